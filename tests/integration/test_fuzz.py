"""Issue 5, bad input: property-based bodies and read-API parameters. Never a 500, never a crash;
bad spans are rejected with reasons, good spans in the same request are kept."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from support import running_collector
from tierscope.collector.ingest.decode import BadRequest, decode_body
from tierscope.collector.ingest.normalize import normalize

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
FUZZ_HTTP = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda v: AnyValue(int_value=v)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda v: AnyValue(double_value=v)),
    st.text(max_size=300).map(lambda v: AnyValue(string_value=v)),
    st.booleans().map(lambda v: AnyValue(bool_value=v)),
    st.binary(max_size=40).map(lambda v: AnyValue(bytes_value=v)),
)
keys = st.sampled_from(["gen_ai.operation.name", "gen_ai.request.model", "gen_ai.usage.input_tokens",
                        "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens", "tierscope.role",
                        "tierscope.tier", "tierscope.quality.score", "llm.token_count.prompt",
                        "openinference.span.kind", "gen_ai.provider.name", "x"]) | st.text(max_size=30)


@st.composite
def requests(draw) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        ss = request.resource_spans.add().scope_spans.add()
        for _ in range(draw(st.integers(0, 5))):
            span = ss.spans.add(name=draw(st.text(max_size=20)), trace_id=draw(st.binary(max_size=17)),
                                span_id=draw(st.binary(max_size=9)),
                                start_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
                                end_time_unix_nano=draw(st.integers(0, 2**64 - 1)))
            for _ in range(draw(st.integers(0, 8))):
                span.attributes.append(KeyValue(key=draw(keys), value=draw(values)))
    return request


@FUZZ
@given(requests())
def test_normalize_never_raises_and_accounts_for_every_span(request):
    out = normalize(request, resolve_tier=lambda m, p: "")
    total = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    assert out.span_count + out.quality_count + out.rejected + out.non_llm == total
    assert all(0 <= t <= 100_000_000 for t in out.spans["input_tokens"])


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from(["application/x-protobuf", "application/json", "text/plain", ""]),
       st.sampled_from(["", "gzip", "br"]))
def test_decode_random_bytes_either_parses_or_says_bad_request(body, content_type, encoding):
    try:
        decode_body(body, content_type, encoding)
    except BadRequest as exc:
        assert str(exc)


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    with running_collector(tmp_path_factory.mktemp("fuzz") / "s") as c:
        yield c


@FUZZ_HTTP
@given(body=st.one_of(st.binary(max_size=3000), requests().map(lambda r: r.SerializeToString())),
       as_json=st.booleans(), gz=st.booleans())
def test_http_never_500(collector, body, as_json, gz):
    if as_json:
        try:
            body = json.dumps(json.loads(body)).encode() if body[:1] == b"{" else body
        except (ValueError, UnicodeDecodeError):
            pass
    headers = {"content-type": "application/json" if as_json else "application/x-protobuf"}
    if gz:
        body, headers["content-encoding"] = gzip.compress(body), "gzip"
    r = httpx.post(f"{collector.url}/v1/traces", content=body, headers=headers, timeout=30)
    assert r.status_code in (200, 400, 413), r.text[:300]


@FUZZ_HTTP
@given(endpoint=st.sampled_from(["spend", "spend/timeseries", "spans", "filters", "month", "traces/abc"]),
       params=st.dictionaries(st.sampled_from(["by", "since", "until", "role", "team", "bucket", "split", "tz",
                                               "limit", "offset", "month", "tier", "model", "trace_id"]),
                              st.text(max_size=50), max_size=5))
def test_read_api_never_500(collector, endpoint, params):
    r = httpx.get(f"{collector.url}/api/v1/{endpoint}", params=params, timeout=30)
    assert r.status_code in (200, 400, 404), (endpoint, params, r.text[:300])


def test_good_spans_survive_beside_bad_ones_in_one_request(collector):
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for i, tokens in enumerate([10, -1, 20, 2**40, 30]):
        span = ss.spans.add(name="chat", trace_id=b"\x07" * 16, span_id=bytes([9] * 7 + [i + 1]),
                            start_time_unix_nano=1_795_000_000_000_000_000)
        for k, v in (("gen_ai.operation.name", AnyValue(string_value="chat")),
                     ("gen_ai.request.model", AnyValue(string_value="gpt-4o")),
                     ("gen_ai.usage.input_tokens", AnyValue(int_value=tokens))):
            span.attributes.append(KeyValue(key=k, value=v))
    r = httpx.post(f"{collector.url}/v1/traces", content=request.SerializeToString(),
                   headers={"content-type": "application/x-protobuf"})
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert (r.status_code, partial.rejected_spans) == (200, 0)  # token counts are checked after the ack
    trace = httpx.get(f"{collector.url}/api/v1/traces/{'07' * 16}").json()
    reasons = httpx.get(f"{collector.url}/api/v1/stats").json()["rejected_reasons"]
    assert reasons.get("gen_ai.usage.input_tokens out of range [0, 100000000]", 0) >= 2
    assert sorted(s["input_tokens"] for s in trace["spans"]) == [10, 20, 30]
