"""tierscope's in-process instrumentation: which agent role calls which model tier.

Drop-in for any agent program; imports ``opentelemetry-api`` only (``configure()`` and
``RoleSpanProcessor`` load the SDK when first used)::

    from tierscope.instrumentation import configure, instrument, role

    configure(service_name="support-agent")  # OTLP to $OTEL_EXPORTER_OTLP_ENDPOINT
    instrument()                              # openai + anthropic SDK calls become GenAI spans

    with role("planner", team="support", feature="triage"):
        client.chat.completions.create(model="gpt-4o", messages=[...])

    @role("formatter")
    async def format_answer(text): ...

For other clients wrap the call in ``llm_call(model=..., provider=...)``; grade answers with
``record_quality(score, source)``, now or later by ``trace_id``/``span_id``. Route calls by a
recommended policy with ``Router(path).pick(role)``: each routed span logs its propensity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._instrument import SDKS, instrument, uninstrument
from ._llm_call import LLMCall, TokenUsage, current_llm_call, llm_call
from ._quality import record_quality
from ._router import CheckFailed, Decision, Refused, Router
from ._roles import RoleScope, current_role, role
from ._tier_map import TIERS_ENV, resolve_tier, set_tier_map, tier_map
from .tiers import parse_tier_map, tier_for_model

if TYPE_CHECKING:
    from ._configure import configure
    from ._processor import RoleSpanProcessor

__all__ = [
    "SDKS",
    "TIERS_ENV",
    "CheckFailed",
    "Decision",
    "LLMCall",
    "Refused",
    "RoleScope",
    "RoleSpanProcessor",
    "Router",
    "TokenUsage",
    "configure",
    "current_llm_call",
    "current_role",
    "instrument",
    "llm_call",
    "parse_tier_map",
    "record_quality",
    "resolve_tier",
    "role",
    "set_tier_map",
    "tier_for_model",
    "tier_map",
    "uninstrument",
]

# These two import the OpenTelemetry SDK; load them only when asked for (PEP 562).
_LAZY = {"configure": "._configure", "RoleSpanProcessor": "._processor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
