"""Issue 7: an OpenTelemetry Collector that already exports to ClickHouse (contrib clickhouseexporter,
table otel_traces) is a source: `import-otel` gives the same spans, tokens and exact costs as sending
the same spans to tierscope over OTLP.

The same SDK spans go (a) over OTLP/HTTP into one collector and (b) into otel_traces, shaped as the
exporter writes them (attributes through pcommon's AsString), then through `import-otel` into a
second store; both collectors' read APIs must answer the same numbers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pyarrow as pa
import pytest
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from support import running_collector
from tierscope.client import ApiClient
from tierscope.collector.interop import otel_traces as interop_otel_traces
from tierscope.cli.import_otel import import_otel as import_otel_command
from tierscope.collector.interop.otel_traces import import_otel_traces
from tierscope.collector.store.clickhouse import Store

# exporter/clickhouseexporter/internal/sqltemplates/traces_table.sql (opentelemetry-collector-contrib),
# rendered with Database=default, TableName=otel_traces, no cluster, Engine=MergeTree(), no TTL, no
# full-text search: verbatim, chdb takes it unchanged.
OTEL_TRACES_DDL = """CREATE TABLE IF NOT EXISTS `default`.`otel_traces`  (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    ResourceAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(ResourceAttributes, 'Array(Tuple(String, String))')),
    SpanAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(SpanAttributes, 'Array(Tuple(String, String))')),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)

SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""

DAY1 = int(datetime(2026, 11, 20, 9, tzinfo=UTC).timestamp()) * 10**9
DAY2 = int(datetime(2026, 11, 21, 23, 55, tzinfo=UTC).timestamp()) * 10**9
SEMCONV = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}


def _specs() -> list[tuple[str, int, dict, StatusCode]]:
    """(name, start ns, attributes, status) of a mixed day and a half of spans."""
    specs = []
    for i in range(40):
        start = (DAY1 if i < 25 else DAY2) + i * 7_000_123_457
        role = ("planner", "worker", "critic")[i % 3]
        if i % 4 == 0:  # current semconv, with cache and reasoning, and router attributes
            attrs = {**SEMCONV, "gen_ai.request.model": "o3", "gen_ai.usage.input_tokens": 1000 + i,
                     "gen_ai.usage.output_tokens": 200 + i, "gen_ai.usage.cache_read.input_tokens": 300,
                     "gen_ai.usage.reasoning.output_tokens": 50, "tierscope.role": role,
                     "tierscope.router.explored": i % 8 == 0, "tierscope.router.propensity": 0.25,
                     "tierscope.quality.score": 0.75}
        elif i % 4 == 1:  # OpenInference
            attrs = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.system": "openai",
                     "llm.token_count.prompt": 5000 + i, "llm.token_count.completion": 70,
                     "llm.token_count.prompt_details.cache_read": 1200, "tierscope.role": role}
        elif i % 4 == 2:  # OpenLLMetry's Anthropic, input with the cache included
            attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                     "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.model": "claude-sonnet-4-5",
                     "gen_ai.usage.input_tokens": 9000 + i, "gen_ai.usage.output_tokens": 400,
                     "gen_ai.usage.cache_read.input_tokens": 6000, "gen_ai.usage.cache_creation.input_tokens": 800,
                     "gen_ai.response.finish_reasons": ("stop",), "tierscope.role": role, "tierscope.tier": "mid"}
        else:  # an unknown model: unpriced
            attrs = {**SEMCONV, "gen_ai.request.model": "acme-ft-7b", "gen_ai.usage.input_tokens": 10,
                     "gen_ai.usage.output_tokens": 5, "tierscope.role": role}
        status = StatusCode.ERROR if i == 5 else StatusCode.UNSET
        specs.append((f"chat {i}", start, attrs, status))
    specs.append(("GET /health", DAY1, {"http.request.method": "GET"}, StatusCode.OK))  # not an LLM span
    return specs


def _finished_spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "agent",
                                                        "deployment.environment.name": "prod",
                                                        "tierscope.team": "search"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("interop-test", "1.0")
    for name, start, attrs, status in _specs():
        span = tracer.start_span(name, start_time=start, attributes=attrs, kind=SpanKind.CLIENT)
        span.set_status(Status(status))
        span.end(end_time=start + 1_234_567)
    finished = list(memory.get_finished_spans())
    target = finished[0]  # late quality for the first span, as the feedback API sends it
    feedback = tracer.start_span("tierscope.quality", start_time=DAY2 + 10**12, attributes={
        "tierscope.quality.target.trace_id": format(target.context.trace_id, "032x"),
        "tierscope.quality.target.span_id": format(target.context.span_id, "016x"),
        "tierscope.quality.score": 0.4, "tierscope.quality.source": "user_feedback"})
    feedback.end(end_time=DAY2 + 10**12 + 1)
    return list(memory.get_finished_spans())


def as_string(value) -> str:
    """pcommon Value.AsString, which the exporter stores for every attribute."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return json.dumps(list(value), separators=(",", ":"))
    return repr(value) if isinstance(value, float) else str(value)


def exporter_rows(spans: list[ReadableSpan]) -> pa.Table:
    """otel_traces rows as the clickhouseexporter writes them."""
    def attrs(mapping) -> list[tuple[str, str]]:
        return [(k, as_string(v)) for k, v in mapping.items()]

    status = {StatusCode.UNSET: "Unset", StatusCode.OK: "Ok", StatusCode.ERROR: "Error"}
    columns: dict[str, list] = {k: [] for k in (
        "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind", "ServiceName",
        "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration", "StatusCode",
        "StatusMessage")}
    for s in spans:
        for key, value in (
            ("Timestamp", s.start_time), ("TraceId", format(s.context.trace_id, "032x")),
            ("SpanId", format(s.context.span_id, "016x")),
            ("ParentSpanId", format(s.parent.span_id, "016x") if s.parent else ""), ("TraceState", ""),
            ("SpanName", s.name), ("SpanKind", s.kind.name.title()),
            ("ServiceName", s.resource.attributes["service.name"]),
            ("ResourceAttributes", attrs(s.resource.attributes)), ("ScopeName", s.instrumentation_scope.name),
            ("ScopeVersion", s.instrumentation_scope.version or ""), ("SpanAttributes", attrs(s.attributes)),
            ("Duration", s.end_time - s.start_time), ("StatusCode", status[s.status.status_code]),
            ("StatusMessage", s.status.description or ""),
        ):
            columns[key].append(value)
    string_map = pa.map_(pa.string(), pa.string())
    types = {"Timestamp": pa.timestamp("ns"), "Duration": pa.uint64(), "ResourceAttributes": string_map,
             "SpanAttributes": string_map}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in columns.items()})


def create_otel_traces(path, spans: list[ReadableSpan]) -> None:
    store = Store(f"chdb:{path}")
    try:
        store.command(OTEL_TRACES_DDL)
        store.insert("otel_traces", exporter_rows(spans))
    finally:
        store.close()


def read_api(collector) -> dict:
    api = ApiClient(collector.url)
    try:
        spend = api.get("spend", by=["role", "model"])
        spans = api.get("spans", limit=1000)["rows"]
        month = api.get("month", month="2026-11", by=["team", "role", "model", "tier"])
    finally:
        api.close()
    return {"spend": spend, "spans": sorted(spans, key=lambda r: (r["trace_id"], r["span_id"])),
            "month_total": month["total"], "month_rows": month["rows"]}


@pytest.fixture(scope="module")
def spans() -> list[ReadableSpan]:
    return _finished_spans()


@pytest.fixture(scope="module")
def via_otlp(spans, tmp_path_factory) -> dict:
    with running_collector(tmp_path_factory.mktemp("otlp") / "store") as collector:
        body = encode_spans(spans).SerializeToString()
        response = httpx.post(f"{collector.url}/v1/traces", content=body,
                              headers={"content-type": "application/x-protobuf"}, timeout=30)
        assert response.status_code == 200
        return read_api(collector)


def test_import_via_store_matches_otlp_ingest_exactly_and_twice_changes_nothing(spans, via_otlp, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setattr(interop_otel_traces, "PAGE_SPANS", 7)  # many keyset pages over two days
    path = tmp_path / "store"
    create_otel_traces(path, spans)
    runner = CliRunner()
    first = runner.invoke(import_otel_command, ["--store", f"chdb:{path}"])
    assert first.exit_code == 0, first.output
    counts = json.loads(first.output)
    assert counts == {"days": 3, "read": 41, "spans": 40, "quality": 1, "not_llm": 0, "rejected": 0,
                      "reasons": {}}
    again = runner.invoke(import_otel_command, ["--store", f"chdb:{path}", "--since", "2026-11-21T00:00:00Z"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["spans"] == 15
    with running_collector(path) as collector:
        imported = read_api(collector)

    assert imported == via_otlp
    total = via_otlp["spend"]["total"]
    assert total["spans"] == 40 and total["unpriced_spans"] == 10
    assert Decimal(total["cost_usd"]) > 0
    explored = [r for r in imported["spans"] if r["router_propensity"] == 0.25]
    assert len(explored) == 10  # the typed router attributes survived the strings


def test_import_into_a_running_collector_over_otlp(spans, via_otlp, tmp_path):
    path = tmp_path / "store"
    create_otel_traces(path, spans)
    with running_collector(path) as collector:
        # In one process chdb lets a second client open the collector's own path: the table is read
        # from there and sent to the collector's OTLP receiver, as from a ClickHouse server in production.
        result = CliRunner().invoke(import_otel_command, ["--source", f"chdb:{path}", "--api", collector.url])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["spans"] == 41  # 40 LLM spans + 1 quality event, as the API counts
        imported = read_api(collector)
    assert imported == via_otlp


def test_missing_table_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(import_otel_command, ["--store", f"chdb:{tmp_path / 's'}", "--table", "nope"])
    assert result.exit_code == 1
    assert "cannot read default.nope" in result.output and "Traceback" not in result.output


def test_rows_to_request_keeps_ids_times_status_and_scope():
    row = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331", "parent_span_id": "",
           "name": "chat", "start_ns": 10, "duration_ns": 5, "status_code": "STATUS_CODE_ERROR",
           "status_message": "boom", "scope_name": "openlit.instrumentation.anthropic", "scope_version": "1",
           "resource_attributes": {"service.name": "a"},
           "span_attributes": {"tierscope.router.explored": "true", "gen_ai.usage.input_tokens": "12"}}
    request = interop_otel_traces.rows_to_request([row, {**row, "span_id": "zz"}])
    (resource,) = request.resource_spans
    (scope,) = resource.scope_spans
    first, bad = scope.spans
    assert scope.scope.name == "openlit.instrumentation.anthropic"
    assert first.trace_id.hex() == row["trace_id"] and first.end_time_unix_nano == 15
    assert first.status.code == 2 and first.status.message == "boom"
    attrs = {kv.key: kv.value for kv in first.attributes}
    assert attrs["tierscope.router.explored"].bool_value is True
    assert attrs["gen_ai.usage.input_tokens"].string_value == "12"
    assert bad.span_id == b""  # normalize rejects it with its usual reason
