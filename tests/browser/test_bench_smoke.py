"""`make bench` stays runnable: its workload is real OTLP, the collector's fast paths agree with
the general ones on it and on odd encodings, and a tiny run of the whole bench writes its table.
No timing is asserted anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from tierscope.collector.ingest import decode

from tierscope.collector.ingest import normalize
from tierscope.collector.ingest.decode import BadRequest, DecodedTraces, attributes, decode_body

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from workload import MODELS, live_request_bodies, request_bodies, span_specs  # noqa: E402


def _general_path(request, **kw):
    """normalize() of the protobuf message (its attributes read object by object, not by the fast decoder)."""
    return normalize.normalize(request, **kw)


def _same(a: normalize.Normalized, b: normalize.Normalized) -> None:
    assert a.spans == b.spans and a.quality == b.quality
    assert [list(x.items()) for x in a.spans["attributes"]] == [list(x.items()) for x in b.spans["attributes"]]
    assert (a.non_llm, a.rejected, list(a.reasons.items()), list(a.warnings.items())) == (
        b.non_llm, b.rejected, list(b.reasons.items()), list(b.warnings.items()))


def test_workload_bodies_are_the_spans_they_claim():
    bodies = request_bodies(1200, batch=500, seed=3)
    assert len(bodies) == 3
    specs = span_specs(1200, 3, 1_795_000_000_000_000_000, 86_400.0)
    spans = [s for b in bodies for rs in ExportTraceServiceRequest.FromString(b).resource_spans
             for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 1200
    for i in (0, 1, 599, 1199):
        attrs = attributes(spans[i].attributes)
        assert spans[i].trace_id == specs.trace_id[i].tobytes()
        assert attrs["gen_ai.request.model"] == MODELS[specs.model[i]][0]
        assert attrs["gen_ai.usage.input_tokens"] == specs.input_tokens[i]
        assert attrs.get("gen_ai.usage.cache_read.input_tokens", 0) == specs.cache_read[i]


def test_live_bodies_are_stamped_just_before_they_are_taken():
    """`make soak`'s default traffic: each request built when taken, its spans in the open hour."""
    now = [1_795_000_000_000_000_000]
    bodies = live_request_bodies(1200, batch=500, seed=3, lag_s=30.0, clock=lambda: now[0])
    seen = []
    for body in bodies:
        spans = [s for rs in ExportTraceServiceRequest.FromString(body).resource_spans
                 for ss in rs.scope_spans for s in ss.spans]
        assert all(now[0] - 30_000_000_000 <= s.start_time_unix_nano < now[0] for s in spans)
        seen.append(len(spans))
        now[0] += 60_000_000_000  # the next request is taken a minute later
    assert seen == [500, 500, 200]


def test_decoded_attributes_equal_the_protobuf_objects_and_fast_rows_equal_general_ones():
    resolve = lambda model, provider: "mid"  # noqa: E731
    for body in request_bodies(2000, batch=500, seed=5):
        message = ExportTraceServiceRequest.FromString(body)
        traces = decode_body(body, "application/x-protobuf")
        assert isinstance(traces, DecodedTraces)
        expected = [attributes(s.attributes) for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]
        got = [a for group in traces.span_attributes for a in group]
        assert [list(a.items()) for a in got] == [list(a.items()) for a in expected]
        fast = normalize.normalize(traces, resolve_tier=resolve)
        _same(fast, _general_path(message, resolve_tier=resolve))
        assert fast.span_count == 500


def _kv_body(*key_values: bytes) -> bytes:
    span = b"\x0a\x10" + b"\x01" * 16 + b"\x12\x08" + b"\x02" * 8 + b"\x39" + (10**18).to_bytes(8, "little")
    span += b"".join(decode._field(9, kv) for kv in key_values)
    return decode._field(1, decode._field(2, decode._field(2, span)))


@pytest.mark.parametrize("kv", [
    KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=-5)).SerializeToString(),
    KeyValue(key="k", value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a")]))).SerializeToString(),
    KeyValue(key="k", value=AnyValue(double_value=0.25)).SerializeToString(),
    KeyValue(key="k", value=AnyValue(bytes_value=b"\x00\xff")).SerializeToString(),
    KeyValue(key="k").SerializeToString(),  # no value
    KeyValue(value=AnyValue(string_value="no key")).SerializeToString(),
    decode._field(2, AnyValue(string_value="v").SerializeToString()) + decode._field(1, b"reversed"),
    KeyValue(key="x" * 300, value=AnyValue(string_value="y" * 300)).SerializeToString(),  # 2-byte lengths
])
def test_odd_but_valid_attribute_encodings_decode_like_protobuf(kv):
    body = _kv_body(KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")).SerializeToString(), kv)
    message = ExportTraceServiceRequest.FromString(body)
    assert decode_body(body, "").span_attributes[0] == [attributes(message.resource_spans[0].scope_spans[0].spans[0].attributes)]
    _same(normalize.normalize(decode_body(body, "")), _general_path(message))


@pytest.mark.parametrize("kv", [
    decode._field(1, b"\xff\xfe") + decode._field(2, b""),  # key not UTF-8
    decode._field(1, b"k") + decode._field(2, decode._field(1, b"\xc0\x80")),  # overlong UTF-8 value
    decode._field(1, b"k") + b"\x12\x05\x0a\x09abc",  # value length past its end
])
def test_invalid_attributes_are_a_bad_request_as_with_protobuf(kv):
    body = _kv_body(kv)
    with pytest.raises(Exception):
        ExportTraceServiceRequest.FromString(body)
    with pytest.raises(BadRequest):
        decode_body(body, "")


@pytest.mark.slow
def test_a_tiny_bench_run_writes_its_table(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick", "--skip", "peer", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    measures = {row["measure"] for row in result["rows"]}
    assert any("OTLP/HTTP" in m for m in measures) and any("OTLP/gRPC" in m for m in measures)
    assert any(m.startswith("decode + normalize") for m in measures)
    assert any("spend by role" in m for m in measures)
    assert any("llm_call()" in m for m in measures)
    assert all(row["value"] for row in result["rows"])
    assert "| section | measure |" in (tmp_path / "latest.md").read_text()
    assert {"nproc", "cpu", "ram", "python", "chdb", "clickhouse", "date"} <= set(result["machine"])
