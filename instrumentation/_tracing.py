"""Where tierscope's own spans go: a tracer from the chosen TracerProvider, or the global one.

``configure()`` and ``instrument(tracer_provider=...)`` choose the provider; until then, and after
``uninstrument()``, spans go to OpenTelemetry's global provider (a no-op until someone sets it).
"""

from __future__ import annotations

import threading

from opentelemetry import trace
from tierscope import __version__

from .conventions import INSTRUMENTATION_SCOPE

__all__ = ["get_tracer", "use_tracer_provider"]

_lock = threading.Lock()
_provider: trace.TracerProvider | None = None
_tracer: trace.Tracer | None = None


def use_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Send tierscope's spans to ``provider`` (``None``: the global provider)."""
    global _provider, _tracer
    with _lock:
        _provider = provider
        _tracer = None


def get_tracer() -> trace.Tracer:
    """The tracer for tierscope's spans, created once per provider."""
    global _tracer
    tracer = _tracer
    if tracer is None:
        with _lock:
            if _tracer is None:
                _tracer = trace.get_tracer(INSTRUMENTATION_SCOPE, __version__, tracer_provider=_provider)
            tracer = _tracer
    return tracer
