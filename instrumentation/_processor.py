"""``RoleSpanProcessor``: stamps the current role (and, on LLM spans, the tier) on every span.

This is the only way to label spans that other instrumentations create (OpenLIT, OpenInference,
the anthropic SDK's own tracing…): they know nothing of roles, but every span passes through the
TracerProvider's processors when it starts, with the context it starts in. ``configure()`` adds
this processor; with your own TracerProvider, add it yourself, first:

    provider.add_span_processor(RoleSpanProcessor())

This module imports the OpenTelemetry SDK, so the package loads it only on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from ._guard import swallow
from ._llm_call import current_llm_call
from ._roles import current_role
from ._tier_map import resolve_tier
from .conventions import (
    DUPLICATE_OF,
    NATIVE_SDK_SCOPES,
    DEADLINE,
    FEATURE,
    INSTRUMENTATION_SCOPE,
    MODEL_KEYS,
    OPENINFERENCE_SPAN_KIND,
    OPERATION_KEYS,
    PROVIDER_KEYS,
    QUALITY_SPAN_NAME,
    ROLE,
    TEAM,
    TIER,
)

__all__ = ["RoleSpanProcessor"]


def _first(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _is_llm_span(attributes: Mapping[str, Any]) -> bool:
    return (
        _first(attributes, OPERATION_KEYS) is not None
        or _first(attributes, MODEL_KEYS) is not None
        or _first(attributes, PROVIDER_KEYS) is not None
        or attributes.get(OPENINFERENCE_SPAN_KIND) == "LLM"
    )


def _is_ours(span: Span) -> bool:
    scope = span.instrumentation_scope
    return scope is not None and scope.name == INSTRUMENTATION_SCOPE


def _is_native_sdk(span: Span) -> bool:
    scope = span.instrumentation_scope
    return scope is not None and scope.name in NATIVE_SDK_SCOPES


def _mark_if_nested_in_llm_span(span: Span, parent_context: context.Context | None) -> None:
    parent = trace.get_current_span(parent_context)
    attributes = getattr(parent, "attributes", None)
    if parent.is_recording() and attributes and _is_llm_span(attributes):
        span.set_attribute(DUPLICATE_OF, format(parent.get_span_context().span_id, "016x"))


class RoleSpanProcessor(SpanProcessor):
    """Adds ``tierscope.role/team/feature`` from the role in effect to each span as it starts.

    On spans that look like LLM calls at start (a GenAI operation, model or provider attribute,
    or an OpenInference ``LLM`` kind) and carry no tier yet, it also adds ``tierscope.tier``: the
    role's tier, else the configured model→tier map, else the price band. Such a span from another
    instrumentation that starts inside one of tierscope's LLM calls (anthropic>=2's own tracing
    under our shim, OpenLIT inside ``llm_call()``) gets ``tierscope.duplicate_of``: those tokens
    are already counted on our span. Never raises.
    """

    def on_start(self, span: Span, parent_context: context.Context | None = None) -> None:
        with swallow("tagging a span with its role"):
            if span.name == QUALITY_SPAN_NAME:
                return  # feedback about another span; the role in effect now is irrelevant
            attributes: Mapping[str, Any] = span.attributes or {}
            if ROLE in attributes and TIER in attributes and _is_ours(span):
                return  # llm_call() stamped both from this same context: nothing below would apply
            scope = current_role(parent_context)
            if scope is not None and ROLE not in attributes:
                span.set_attribute(ROLE, scope.role)
                if scope.team is not None:
                    span.set_attribute(TEAM, scope.team)
                if scope.feature is not None:
                    span.set_attribute(FEATURE, scope.feature)
                if scope.deadline is not None:
                    span.set_attribute(DEADLINE, scope.deadline)
            if TIER not in attributes and scope is not None and scope.tier is not None:
                # A pinned tier goes on every span in the role: vendors that set the model after
                # start would otherwise miss it (the collector ignores it on non-LLM spans).
                span.set_attribute(TIER, scope.tier)
            if _is_native_sdk(span) and current_llm_call(parent_context) is None:
                _mark_if_nested_in_llm_span(span, parent_context)
            if not _is_llm_span(attributes):
                return
            enclosing = current_llm_call(parent_context)
            if enclosing is not None and not _is_ours(span):
                span.set_attribute(DUPLICATE_OF, enclosing.span_id)

            if TIER in attributes:
                return
            tier = resolve_tier(
                [_first(attributes, MODEL_KEYS)],
                _first(attributes, PROVIDER_KEYS),
                scope.tier if scope is not None else None,
            )
            if tier is not None:
                span.set_attribute(TIER, tier)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
