"""``instrument()`` / ``uninstrument()``: patch the installed LLM SDKs, and undo it.

Both are idempotent and safe to call per test. An SDK that is not installed is skipped; a patch
that fails is logged and skipped — instrumenting never breaks the host program.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from opentelemetry import trace

from ._anthropic import instrument_anthropic, uninstrument_anthropic
from ._guard import logger
from ._openai import instrument_openai, uninstrument_openai
from ._tracing import use_tracer_provider

__all__ = ["SDKS", "instrument", "prefetch_prices", "uninstrument"]

_SHIMS: dict[str, tuple[Callable[[], int], Callable[[], int]]] = {
    "openai": (instrument_openai, uninstrument_openai),
    "anthropic": (instrument_anthropic, uninstrument_anthropic),
}
SDKS = tuple(_SHIMS)
"""The SDKs tierscope has shims for."""

_prefetched = threading.Event()


def prefetch_prices() -> None:
    """Load genai-prices' data in a daemon thread, so the first LLM call does not wait ~0.5 s for it."""
    if _prefetched.is_set():
        return
    _prefetched.set()

    def load() -> None:
        try:
            from genai_prices.data_snapshot import get_snapshot

            get_snapshot()
        except Exception:
            logger.debug("tierscope: could not preload genai-prices", exc_info=True)

    threading.Thread(target=load, name="tierscope-prices", daemon=True).start()


def _check(sdks: Iterable[str] | None) -> tuple[str, ...]:
    names = SDKS if sdks is None else tuple(sdks)
    unknown = [name for name in names if name not in _SHIMS]
    if unknown:
        raise ValueError(f"no tierscope shim for {unknown!r}; shims exist for {', '.join(SDKS)}")
    return names


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    sdks: Iterable[str] | None = None,
) -> tuple[str, ...]:
    """Trace every call of the installed ``openai`` / ``anthropic`` SDKs (or just ``sdks``).

    ``tracer_provider`` is where tierscope's spans go — the shims', ``llm_call()``'s and the
    late quality spans' (default: the one ``configure()`` set up, else the global provider).
    Returns the SDKs that are instrumented.
    """
    names = _check(sdks)
    if tracer_provider is not None:
        use_tracer_provider(tracer_provider)
    done = []
    for name in names:
        patch, _ = _SHIMS[name]
        try:
            patch()
        except ImportError:
            logger.debug("tierscope: %s is not installed; not instrumenting it", name)
            continue
        except Exception:
            logger.warning("tierscope: could not instrument %s; its calls are not traced", name, exc_info=True)
            continue
        done.append(name)
    prefetch_prices()
    return tuple(done)


def uninstrument(*, sdks: Iterable[str] | None = None) -> None:
    """Restore the SDK methods ``instrument()`` patched (all SDKs, or just ``sdks``)."""
    for name in _check(sdks):
        _, unpatch = _SHIMS[name]
        unpatch()
