"""The OTLP -> row mapping is a pure function: each accepted spelling, each rejection, on its own."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tierscope.collector.ingest.normalize import MAX_TOKENS, normalize


def _value(v) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=v)


def _request(*spans: dict, resource: dict | None = None, name: str = "chat") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for k, v in (resource or {"service.name": "svc"}).items():
        rs.resource.attributes.append(KeyValue(key=k, value=_value(v)))
    ss = rs.scope_spans.add()
    for i, attrs in enumerate(spans):
        span = ss.spans.add(name=attrs.pop("__name__", name), trace_id=bytes([1] * 15 + [i + 1]),
                            span_id=bytes([2] * 7 + [i + 1]), start_time_unix_nano=10**18, end_time_unix_nano=10**18 + 5)
        for k, v in attrs.items():
            span.attributes.append(KeyValue(key=k, value=_value(v)))
    return request


def _one(attrs: dict, **kw):
    out = normalize(_request(dict(attrs)), **kw)
    assert out.span_count == 1, out.reasons
    return {k: v[0] for k, v in out.spans.items()}


def test_current_semconv_names():
    row = _one({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cache_read.input_tokens": 1000,
                "gen_ai.usage.reasoning.output_tokens": 200, "tierscope.role": "planner", "tierscope.team": "search"})
    assert (row["model"], row["request_model"], row["provider"]) == ("gpt-4o-2024-08-06", "gpt-4o", "openai")
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["reasoning_tokens"]) == (1200, 300, 1000, 200)
    assert (row["role"], row["team"], row["service"]) == ("planner", "search", "svc")


def test_older_and_openinference_spellings():
    row = _one({"gen_ai.system": "openai", "llm.request.type": "chat", "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.prompt_tokens": 50, "gen_ai.usage.completion_tokens": 7,
                "gen_ai.usage.cache_read_input_tokens": 10, "gen_ai.usage.reasoning_tokens": 3})
    assert (row["provider"], row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["reasoning_tokens"]) == ("openai", 50, 7, 10, 3)
    row = _one({"openinference.span.kind": "LLM", "llm.model_name": "claude-3-5-haiku-latest", "llm.provider": "anthropic",
                "llm.token_count.prompt": 900, "llm.token_count.completion": 40,
                "llm.token_count.prompt_details.cache_read": 300, "llm.token_count.prompt_details.cache_write": 100,
                "llm.token_count.completion_details.reasoning": 5})
    assert (row["model"], row["provider"], row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"], row["reasoning_tokens"]) == (
        "claude-3-5-haiku-latest", "anthropic", 900, 300, 100, 5)


def test_input_excluding_cache_is_corrected_so_cache_is_priced_once():
    # Reported Anthropic-style: input_tokens (100) excludes the 500 cache-read tokens.
    row = _one({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.cache_read.input_tokens": 500, "gen_ai.usage.output_tokens": 1})
    assert row["input_tokens"] == 600 and row["cache_read_tokens"] == 500


def test_non_llm_spans_are_counted_and_dropped_agent_spans_too():
    out = normalize(_request({"http.method": "GET"}, {"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 5,
                                                      "gen_ai.request.model": "gpt-4o"},
                             {"openinference.span.kind": "CHAIN", "llm.model_name": "x"}))
    assert (out.span_count, out.non_llm, out.rejected) == (0, 3, 0)


@pytest.mark.parametrize("value, reason", [
    (-1, "out of range"), (MAX_TOKENS + 1, "out of range"), ("12x", "not an integer"), (True, "boolean"),
    (1.5, "not an integer"),
])
def test_bad_token_counts_reject_that_span_only(value, reason):
    good = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 3}
    bad = {**good, "gen_ai.usage.input_tokens": value}
    out = normalize(_request(good, bad))
    assert out.span_count == 1 and out.rejected == 1
    assert any(reason in r for r in out.reasons)


def test_quality_event_and_bad_quality_and_content_dropping():
    out = normalize(_request({"__name__": "tierscope.quality", "tierscope.quality.target.trace_id": "ab" * 16,
                              "tierscope.quality.target.span_id": "cd" * 8, "tierscope.quality.score": 0.75,
                              "tierscope.quality.source": "judge"}))
    assert out.quality_count == 1 and out.quality["score"] == [0.75] and out.quality["span_id"] == ["cd" * 8]
    out = normalize(_request({"__name__": "tierscope.quality", "tierscope.quality.target.trace_id": "zz",
                              "tierscope.quality.target.span_id": "cd" * 8, "tierscope.quality.score": 0.75}))
    assert out.quality_count == 0 and out.rejected == 1
    row = _one({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "tierscope.quality.score": 1.7,
                "gen_ai.input.messages": "secret prompt", "gen_ai.prompt.0.content": "secret", "custom.tag": "kept"})
    assert row["quality_score"] is None
    assert row["attributes"] == {"custom.tag": "kept"}
    row = _one({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.input.messages": "p"}, keep_content=True)
    assert row["attributes"] == {"gen_ai.input.messages": "p"}


def test_tier_explicit_beats_resolver_and_unknown_tier_is_replaced():
    resolve = lambda model, provider: "small"  # noqa: E731
    assert _one({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "tierscope.tier": "frontier"},
                resolve_tier=resolve)["tier"] == "frontier"
    assert _one({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "tierscope.tier": "gold"},
                resolve_tier=resolve)["tier"] == "small"
    long_role = "r" * 5000
    assert len(_one({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "tierscope.role": long_role})["role"]) == 1024
