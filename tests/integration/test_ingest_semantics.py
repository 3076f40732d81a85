"""Retries never double-count, unknown models are unpriced (not $0), late quality joins either way,
and the OTLP/HTTP protocol details (JSON, gzip, 400, partial_success, healthz)."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from genai_prices import Usage, calc_price

from support import running_collector, sdk_provider
from tierscope.client import ApiClient

START = 1_795_000_000_000_000_000  # 2026-11-18T...Z


def _finished_spans(specs):
    memory = InMemorySpanExporter()
    provider = sdk_provider(memory, batch=False)
    tracer = provider.get_tracer("t")
    for i, attrs in enumerate(specs):
        span = tracer.start_span(f"chat {i}", start_time=START + i * 1000, attributes=attrs)
        span.end(end_time=START + i * 1000 + 500)
    return memory.get_finished_spans()


def _post(collector, body: bytes, **headers) -> httpx.Response:
    headers.setdefault("content-type", "application/x-protobuf")
    return httpx.post(f"{collector.url}/v1/traces", content=body, headers=headers, timeout=30)


def _llm(model="gpt-4o", role="worker", input_tokens=1000, output_tokens=100, **extra):
    return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens,
            "tierscope.role": role, **extra}


def test_every_batch_sent_twice_leaves_totals_unchanged(tmp_path):
    batches = [encode_spans(_finished_spans([_llm(input_tokens=100 * (b + 1) + i) for i in range(50)]))
               for b in range(4)]
    with running_collector(tmp_path / "s") as collector:
        api = ApiClient(collector.url)
        for batch in batches:
            assert _post(collector, batch.SerializeToString()).status_code == 200
        once = api.get("spend", by="role")["total"]
        for batch in batches + batches:
            assert _post(collector, batch.SerializeToString()).status_code == 200
        thrice = api.get("spend", by="role")["total"]
    expected = sum(calc_price(Usage(input_tokens=100 * (b + 1) + i, output_tokens=100), model_ref="gpt-4o",
                              provider_id="openai").total_price for b in range(4) for i in range(50))
    assert once["spans"] == 200
    assert Decimal(once["cost_usd"]) == expected
    assert thrice == once


def test_unknown_model_is_stored_unpriced_never_zero(tmp_path):
    spans = _finished_spans([_llm(model="acme-llama-ft-7b", role="worker"), _llm(model="gpt-4o", role="worker")])
    with running_collector(tmp_path / "s") as collector:
        assert _post(collector, encode_spans(spans).SerializeToString()).status_code == 200
        api = ApiClient(collector.url)
        rows = {r["model"]: r for r in api.get("spend", by="model")["rows"]}
        listed = {r["model"]: r for r in api.get("spans")["rows"]}
    expected = calc_price(Usage(input_tokens=1000, output_tokens=100), model_ref="gpt-4o", provider_id="openai").total_price
    assert rows["acme-llama-ft-7b"]["unpriced_spans"] == 1
    assert rows["acme-llama-ft-7b"]["cost_usd"] == "0"  # nothing priced in this group ...
    assert listed["acme-llama-ft-7b"]["cost_usd"] is None  # ... because the span's cost is NULL
    assert listed["acme-llama-ft-7b"]["priced"] is False
    assert Decimal(listed["gpt-4o"]["cost_usd"]) == expected
    assert rows["gpt-4o"]["unpriced_spans"] == 0


def _quality_span(trace_id: str, span_id: str, score: float):
    return {"tierscope.quality.target.trace_id": trace_id, "tierscope.quality.target.span_id": span_id,
            "tierscope.quality.score": score, "tierscope.quality.source": "user_feedback"}


def _quality_request(trace_id, span_id, score):
    memory = InMemorySpanExporter()
    tracer = sdk_provider(memory, batch=False).get_tracer("feedback")
    tracer.start_span("tierscope.quality", attributes=_quality_span(trace_id, span_id, score)).end()
    return encode_spans(memory.get_finished_spans()).SerializeToString()


def test_late_quality_joins_whether_it_arrives_before_or_after_its_span(tmp_path):
    spans = _finished_spans([_llm(role="critic", **{"tierscope.quality.score": 0.2}), _llm(role="critic")])
    first, second = (format(s.context.trace_id, "032x") + ":" + format(s.context.span_id, "016x") for s in spans)
    with running_collector(tmp_path / "s") as collector:
        api = ApiClient(collector.url)
        # Quality for the second span arrives BEFORE the span itself.
        assert _post(collector, _quality_request(*second.split(":"), 0.5)).status_code == 200
        assert _post(collector, encode_spans(spans).SerializeToString()).status_code == 200
        # Late quality for the first span overrides its inline 0.2, AFTER the span.
        assert _post(collector, _quality_request(*first.split(":"), 0.9)).status_code == 200
        listed = {r["span_id"]: r for r in api.get("spans")["rows"]}
        by_role = api.get("spend", by="role")["rows"][0]
    assert listed[first.split(":")[1]]["quality"] == 0.9
    assert listed[first.split(":")[1]]["quality_from"] == "user_feedback"
    assert listed[second.split(":")[1]]["quality"] == 0.5
    assert by_role["quality_n"] == 2 and abs(by_role["quality_mean"] - 0.7) < 1e-12


def test_json_gzip_bad_bodies_partial_success_and_healthz(tmp_path):
    good = _llm(model="gpt-4o")
    bad = _llm(model="gpt-4o", input_tokens=-5)
    request = encode_spans(_finished_spans([good, bad, {"http.method": "GET"}]))
    from google.protobuf import json_format

    doc = json_format.MessageToDict(request)
    for rs in doc["resourceSpans"]:  # OTLP JSON carries ids as hex
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        import base64
                        span[key] = base64.b64decode(span[key]).hex()
    with running_collector(tmp_path / "s") as collector:
        assert httpx.get(f"{collector.url}/healthz").status_code == 200
        r = _post(collector, gzip.compress(json.dumps(doc).encode()), **{"content-type": "application/json",
                                                                        "content-encoding": "gzip"})
        assert r.status_code == 200
        assert r.json() == {}  # the bad token count is found by the store feeder, after the ack
        r = _post(collector, b"\x00\xffnot a protobuf at all\xff" * 10)
        assert r.status_code == 400
        r = _post(collector, gzip.compress(b"\x00" * (80 * 1024 * 1024)), **{"content-encoding": "gzip"})
        assert r.status_code == 413
        r = _post(collector, request.SerializeToString())  # the same spans again, as protobuf
        assert ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans == 0
        no_id = encode_spans(_finished_spans([_llm(model="gpt-4o")]))
        no_id.resource_spans[0].scope_spans[0].spans[0].span_id = bytes(8)
        r = _post(collector, no_id.SerializeToString())  # invalid at decode time: partial_success says so
        response = ExportTraceServiceResponse.FromString(r.content)
        assert response.partial_success.rejected_spans == 1
        assert response.partial_success.error_message == "1 rejected: span_id must be 8 bytes, not all zero"
        stats = httpx.get(f"{collector.url}/api/v1/stats").json()
        assert ApiClient(collector.url).get("spend")["total"]["spans"] == 1
    assert stats["rejected_reasons"] == {"gen_ai.usage.input_tokens out of range [0, 100000000]": 2}
    assert stats["spans_not_llm"] == 2 and stats["spans_rejected"] == 2
