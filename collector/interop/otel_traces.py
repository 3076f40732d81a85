"""Import LLM spans from an OpenTelemetry Collector `clickhouseexporter` table (`otel_traces`).

Teams that already export traces to ClickHouse with the contrib exporter point tierscope at that
table instead of re-instrumenting. Rows are read a day (one exporter partition) and a page at a
time with a parameterized query (sql/queries/otel_llm_spans.sql), turned back into the OTLP
request the exporter received, and handed to the same normalize -> price -> insert path as live
ingest, so a span costs the same whichever way it arrived. Importing twice changes nothing:
llm_spans is keyed by (tenant, trace_id, span_id) and read through FINAL.

The exporter stores every attribute as a string (pcommon `AsString`); normalize reads token counts,
scores and dimensions from strings as well, and the two tierscope attributes it needs typed (the
router's `explored` flag and `propensity`) are typed back here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from tierscope.collector.ingest.normalize import normalize
from tierscope.collector.pricing.prices import Pricer, load_overrides
from tierscope.collector.pricing.tiers import TierResolver
from tierscope.collector.ingest.rows import quality_table, spans_table
from tierscope.collector.store.clickhouse import Store
from tierscope.instrumentation import conventions as c
from tierscope.settings import Settings
from tierscope.terms import DEFAULT_TENANT

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGE_SPANS = 5_000  # spans per read and per normalize/insert (or OTLP POST) batch
# Attribute keys that mark a candidate LLM span; normalize() makes the final call.
CANDIDATE_KEYS = tuple(dict.fromkeys((*c.OPERATION_KEYS, *c.MODEL_KEYS, c.OPENINFERENCE_SPAN_KIND)))
_STATUS = {"error": Status.STATUS_CODE_ERROR, "status_code_error": Status.STATUS_CODE_ERROR,
           "ok": Status.STATUS_CODE_OK, "status_code_ok": Status.STATUS_CODE_OK}


@dataclass
class ImportCounts:
    """What an import read and what became of it."""

    days: int = 0
    read: int = 0  # candidate rows read from otel_traces
    spans: int = 0  # LLM spans stored
    quality: int = 0  # late quality events stored
    not_llm: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


Sink = Callable[[ExportTraceServiceRequest, ImportCounts], None]


# --- pure: exporter rows -> OTLP --------------------------------------------------------------------
def _value(key: str, text: str) -> AnyValue:
    if key == c.ROUTER_EXPLORED and text.lower() in ("true", "false"):
        return AnyValue(bool_value=text.lower() == "true")
    if key == c.ROUTER_PROPENSITY:
        try:
            return AnyValue(double_value=float(text))
        except ValueError:
            pass
    return AnyValue(string_value=text)


def _key_values(attrs: Mapping[str, str]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(k, v)) for k, v in attrs.items()]


def _id(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""  # normalize rejects the span with its usual reason


def rows_to_request(rows: list[dict[str, Any]]) -> ExportTraceServiceRequest:
    """The OTLP request the exporter turned into these otel_traces rows (attributes as strings)."""
    request = ExportTraceServiceRequest()
    scopes: dict[tuple, Any] = {}
    resources: dict[tuple, ResourceSpans] = {}
    for row in rows:
        resource_key = tuple(sorted(row["resource_attributes"].items()))
        resource = resources.get(resource_key)
        if resource is None:
            resource = resources[resource_key] = request.resource_spans.add()
            resource.resource.attributes.extend(_key_values(row["resource_attributes"]))
        scope_key = (resource_key, row["scope_name"], row["scope_version"])
        scope = scopes.get(scope_key)
        if scope is None:
            scope = scopes[scope_key] = resource.scope_spans.add()
            scope.scope.name, scope.scope.version = row["scope_name"], row["scope_version"]
        start = int(row["start_ns"])
        span: Span = scope.spans.add(
            trace_id=_id(row["trace_id"]), span_id=_id(row["span_id"]), parent_span_id=_id(row["parent_span_id"]),
            name=row["name"], start_time_unix_nano=start, end_time_unix_nano=start + int(row["duration_ns"]))
        span.status.code = _STATUS.get(str(row["status_code"]).lower(), Status.STATUS_CODE_UNSET)
        span.status.message = row["status_message"]
        span.attributes.extend(_key_values(row["span_attributes"]))
    return request


# --- sinks: where the spans go ------------------------------------------------------------------------
def store_sink(store: Store, settings: Settings, tenant: str = DEFAULT_TENANT) -> Sink:
    """Normalize, price and insert straight into `store` (no collector may own an embedded store)."""
    pricer = Pricer(load_overrides(settings.prices_file))
    resolve_tier = TierResolver(settings.tier_map())

    def sink(request: ExportTraceServiceRequest, counts: ImportCounts) -> None:
        rows = normalize(request, resolve_tier=resolve_tier, keep_content=settings.keep_content)
        now_us = time.time_ns() // 1000
        store.insert("llm_spans", spans_table(rows, tenant, pricer, now_us))
        store.insert("quality_events", quality_table(rows, tenant, now_us))
        counts.spans += rows.span_count
        counts.quality += rows.quality_count
        counts.not_llm += rows.non_llm
        counts.rejected += rows.rejected
        for reason, n in rows.reasons.items():
            counts.reasons[reason] = counts.reasons.get(reason, 0) + n

    return sink


# --- the import ----------------------------------------------------------------------------------------
def _pages(source: Store, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    after = {"after_ns": -1, "after_trace": "", "after_span": ""}
    while True:
        rows = source.query("otel_llm_spans", {**params, **after, "limit": PAGE_SPANS})
        if not rows:
            return
        yield rows
        last = rows[-1]
        after = {"after_ns": int(last["start_ns"]), "after_trace": last["trace_id"], "after_span": last["span_id"]}


def import_otel_traces(
    store: Store | None,
    source_table: str = "otel_traces",
    since: datetime | None = None,
    *,
    source: Store | None = None,
    database: str = "default",
    sink: Sink | None = None,
    settings: Settings | None = None,
    tenant: str = DEFAULT_TENANT,
) -> dict[str, Any]:
    """Copy the LLM spans of `database.source_table` (in `source`, default `store`) into tierscope.

    `sink` defaults to writing into `store` (see store_sink); `collector/interop_otel_cli.py` passes
    one that POSTs to a running collector. Returns ImportCounts as a dict.
    """
    source = source or store
    if source is None:
        raise ValueError("import_otel_traces needs a store to read from")
    if sink is None:
        if store is None:
            raise ValueError("import_otel_traces needs a store or a sink to write to")
        sink = store_sink(store, settings or Settings(), tenant)
    since_ns = (since - _EPOCH) // timedelta(microseconds=1) * 1000 if since else 0
    base = {"database": database, "table": source_table, "since_ns": since_ns}
    counts = ImportCounts()
    for day in [row["day"] for row in source.query("otel_days", base)]:
        counts.days += 1
        params = {**base, "day": day, "keys": list(CANDIDATE_KEYS), "quality_span": c.QUALITY_SPAN_NAME}
        for page in _pages(source, params):
            counts.read += len(page)
            sink(rows_to_request(page), counts)
    return counts.as_dict()
