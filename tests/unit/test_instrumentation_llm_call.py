"""llm_call(): a semconv GenAI CLIENT span for any client; record_quality(), now and an hour later."""

from __future__ import annotations

import logging
import math

import pytest
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id
from tierscope.instrumentation import conventions as c
from tierscope.instrumentation import llm_call, record_quality, role


class ProviderDown(Exception):
    pass


def test_llm_call_span_shape(tierscope_tracing, finished_spans):
    with role("worker", team="ops", feature="summarise"):
        with llm_call(model="gpt-4o", provider="openai") as call:
            call.record_usage(
                input_tokens=1200, output_tokens=300, cache_read_tokens=1000, cache_write_tokens=50, reasoning_tokens=40
            )
            call.set_response_model("gpt-4o-2024-08-06")
            trace_id, span_id = call.trace_id, call.span_id

    (span,) = finished_spans()
    assert span.name == "chat gpt-4o"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes) == {
        c.OPERATION_NAME: "chat",
        c.PROVIDER_NAME: "openai",
        c.REQUEST_MODEL: "gpt-4o",
        c.RESPONSE_MODEL: "gpt-4o-2024-08-06",
        c.ROLE: "worker",
        c.TEAM: "ops",
        c.FEATURE: "summarise",
        c.TIER: "frontier",
        c.USAGE_INPUT_TOKENS: 1200,
        c.USAGE_OUTPUT_TOKENS: 300,
        c.USAGE_CACHE_READ_INPUT_TOKENS: 1000,
        c.USAGE_CACHE_CREATION_INPUT_TOKENS: 50,
        c.USAGE_REASONING_OUTPUT_TOKENS: 40,
    }
    assert trace_id == format_trace_id(span.context.trace_id) and len(trace_id) == 32
    assert span_id == format_span_id(span.context.span_id) and len(span_id) == 16


def test_llm_call_span_is_current_inside(tierscope_tracing, tracer_provider, finished_spans, span_exporter):
    with llm_call(model="llama3.1:8b", provider="ollama", operation="text_completion") as call:
        with tracer_provider.get_tracer("httpx").start_as_current_span("POST /api/generate") as http:
            pass
    assert http.parent.span_id == call.span.get_span_context().span_id
    (span,) = finished_spans()
    assert span.name == "text_completion llama3.1:8b"
    assert span.attributes[c.TIER] == "local"


def test_llm_call_records_and_reraises_errors_unchanged(tierscope_tracing, finished_spans):
    error = ProviderDown("503 from upstream")
    with pytest.raises(ProviderDown) as raised:
        with llm_call(model="gpt-4o-mini", provider="openai"):
            raise error
    assert raised.value is error

    (span,) = finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "503 from upstream"
    assert span.attributes[c.ERROR_TYPE] == "ProviderDown"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("ProviderDown")


def test_telemetry_errors_are_logged_not_raised(tierscope_tracing, finished_spans, caplog):
    with caplog.at_level(logging.DEBUG, logger="tierscope.instrumentation"):
        with llm_call(model="gpt-4o", provider="openai") as call:
            call.record_usage(input_tokens="lots", output_tokens=5)  # type: ignore[arg-type]
    (span,) = finished_spans()
    assert c.USAGE_INPUT_TOKENS not in span.attributes
    assert span.attributes[c.USAGE_OUTPUT_TOKENS] == 5
    assert "recording token usage failed" in caplog.text
    assert "input_tokens='lots'" in caplog.text


def test_unknown_tier_is_the_callers_bug():
    with pytest.raises(ValueError):
        with llm_call(model="gpt-4o", provider="openai", tier="huge"):
            pass


def test_quality_on_the_current_span(tierscope_tracing, finished_spans):
    with llm_call(model="gpt-4o", provider="openai") as call:
        record_quality(0.25, "schema_check")
    with llm_call(model="gpt-4o", provider="openai") as call:
        call.record_quality(1, "judge")
    first, second = finished_spans()
    assert (first.attributes[c.QUALITY_SCORE], first.attributes[c.QUALITY_SOURCE]) == (0.25, "schema_check")
    assert (second.attributes[c.QUALITY_SCORE], second.attributes[c.QUALITY_SOURCE]) == (1.0, "judge")


def test_late_quality_span_points_at_the_graded_call(tierscope_tracing, finished_spans):
    with role("planner"):
        with llm_call(model="gpt-4o", provider="openai") as call:
            pass
    graded = finished_spans()[0]

    with role("feedback-handler"):  # whatever role is current now is not the graded span's
        record_quality(0.8, "user_feedback", trace_id=call.trace_id.upper(), span_id=call.span_id)

    quality = finished_spans()[1]
    assert quality.name == c.QUALITY_SPAN_NAME
    assert quality.parent is None and quality.context.trace_id != graded.context.trace_id
    assert dict(quality.attributes) == {
        c.QUALITY_SCORE: 0.8,
        c.QUALITY_SOURCE: "user_feedback",
        c.QUALITY_TARGET_TRACE_ID: call.trace_id,
        c.QUALITY_TARGET_SPAN_ID: call.span_id,
    }
    (link,) = quality.links
    assert (link.context.trace_id, link.context.span_id) == (graded.context.trace_id, graded.context.span_id)


def test_late_quality_accepts_integer_ids(tierscope_tracing, finished_spans):
    record_quality(0.5, "judge", trace_id=0xABC, span_id=0x12)
    (quality,) = finished_spans()
    assert quality.attributes[c.QUALITY_TARGET_TRACE_ID] == "0" * 29 + "abc"
    assert quality.attributes[c.QUALITY_TARGET_SPAN_ID] == "0" * 14 + "12"


@pytest.mark.parametrize("score", [-0.01, 1.01, math.nan, "0.5", True, None])
def test_out_of_range_score_raises(tierscope_tracing, score):
    with pytest.raises(ValueError):
        record_quality(score, "judge")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [("ab" * 16, None), (None, "cd" * 8), ("xyz", "cd" * 8), ("ab" * 16, "cd" * 9), ("ab" * 16, -1)],
)
def test_bad_target_ids_raise(tierscope_tracing, trace_id, span_id):
    with pytest.raises(ValueError):
        record_quality(0.5, "judge", trace_id=trace_id, span_id=span_id)


def test_quality_outside_any_span_is_dropped_quietly(tierscope_tracing, finished_spans):
    record_quality(0.5, "judge")
    assert finished_spans() == []


def test_quality_for_an_untraced_call_is_dropped_quietly(tierscope_tracing, finished_spans):
    record_quality(0.5, "judge", trace_id="0" * 32, span_id="0" * 16)  # LLMCall's ids when tracing is off
    assert finished_spans() == []
