"""``record_quality()``: how good was a call's answer, now or an hour later.

While the call's span is open the score goes on it as ``tierscope.quality.score/source``. Once it
has ended (user feedback arrives later), a span cannot change, so we emit a tiny span named
``tierscope.quality`` pointing at the graded span by ids (attributes, and a span link); it
travels over OTLP like any span and the collector joins it to its target.
"""

from __future__ import annotations

import math
import re

from opentelemetry import context, trace
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

from ._guard import logger, swallow
from ._tracing import get_tracer
from .conventions import (
    QUALITY_SCORE,
    QUALITY_SOURCE,
    QUALITY_SPAN_NAME,
    QUALITY_TARGET_SPAN_ID,
    QUALITY_TARGET_TRACE_ID,
)

__all__ = ["check_score", "record_quality", "set_quality"]

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")


def check_score(score: float, source: str) -> float:
    """``score`` as a float if it is a number in [0, 1] and ``source`` a non-empty string, else ``ValueError``."""
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0 or math.isnan(score):
        raise ValueError(f"a quality score is a number in [0, 1], got {score!r}")
    if not isinstance(source, str) or not source:
        raise ValueError(f"a quality score needs a source such as 'user_feedback', got {source!r}")
    return float(score)


def set_quality(span: trace.Span, score: float, source: str) -> None:
    """Put a checked score on ``span`` (an open one; an ended span ignores it)."""
    value = check_score(score, source)
    with swallow("recording a quality score"):
        span.set_attribute(QUALITY_SCORE, value)
        span.set_attribute(QUALITY_SOURCE, source)


def _hex_id(value: str | int, pattern: re.Pattern[str], digits: int, what: str) -> str:
    text = format(value, f"0{digits}x") if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not pattern.fullmatch(text.lower()):
        raise ValueError(f"{what} must be {digits} hex digits, got {value!r}")
    return text.lower()


def record_quality(
    score: float,
    source: str,
    *,
    trace_id: str | int | None = None,
    span_id: str | int | None = None,
) -> None:
    """Grade an LLM call's answer with ``score`` in [0, 1] from ``source`` (``"user_feedback"``, ``"judge"``…).

    Without ids it grades the current span (inside ``llm_call()`` that is the call). With the
    ``trace_id`` and ``span_id`` kept from ``LLMCall.trace_id/.span_id`` it grades that span, even
    long after it ended. Bad arguments are the caller's bug: ``ValueError``.
    """
    value = check_score(score, source)
    if trace_id is None and span_id is None:
        span = trace.get_current_span()
        if not span.is_recording():
            logger.debug("tierscope: record_quality() outside a recording span; score dropped")
            return
        set_quality(span, value, source)
        return
    if trace_id is None or span_id is None:
        raise ValueError("record_quality() needs both trace_id and span_id, or neither")
    target_trace = _hex_id(trace_id, _TRACE_ID, 32, "trace_id")
    target_span = _hex_id(span_id, _SPAN_ID, 16, "span_id")
    if int(target_trace, 16) == 0 or int(target_span, 16) == 0:
        # The ids of a call made while tracing was off: nothing to grade, and not the caller's bug.
        logger.debug("tierscope: record_quality() for an untraced call; score dropped")
        return
    with swallow("emitting a late quality span"):
        target = SpanContext(
            int(target_trace, 16), int(target_span, 16), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        span = get_tracer().start_span(
            QUALITY_SPAN_NAME,
            context=context.Context(),  # a root of its own: the graded trace is long finished
            kind=SpanKind.INTERNAL,
            attributes={
                QUALITY_SCORE: value,
                QUALITY_SOURCE: source,
                QUALITY_TARGET_TRACE_ID: target_trace,
                QUALITY_TARGET_SPAN_ID: target_span,
            },
            links=[Link(target)],
        )
        span.end()
