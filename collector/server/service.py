"""The collector's core, shared by the OTLP/HTTP and OTLP/gRPC front doors.

decode (front door) -> normalize -> price -> Arrow -> writer (one coalesced insert) -> ack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tierscope.collector.alerts.runner import AlertRunner
from tierscope.collector.server.auth import DEFAULT_TENANT, Auth, check_bind, parse_tokens
from tierscope.collector.ingest.normalize import Normalized, normalize
from tierscope.collector.pricing.prices import Pricer, load_overrides, unknown_service_tiers
from tierscope.collector.pricing.tiers import TierResolver
from tierscope.collector.store.reconnect import ReconnectingStore, open_store
from tierscope.collector.store.rollup import RollupRefresher
from tierscope.collector.ingest.rows import quality_table, spans_table
from tierscope.collector.store.spool import Spool
from tierscope.collector.store.clickhouse import Store
from tierscope.collector.store.writer import Writer
from tierscope.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    accepted: int
    rejected: int
    message: str


@dataclass
class Counters:
    requests: int = 0
    spans_accepted: int = 0
    quality_accepted: int = 0
    spans_rejected: int = 0
    spans_not_llm: int = 0
    unknown_service_tiers: dict[str, int] = field(default_factory=dict)  # accepted spans, by value
    started_at: float = field(default_factory=time.time)


class Collector:
    def __init__(self, settings: Settings, store: Store | ReconnectingStore | None = None) -> None:
        self.settings = settings
        self.auth = Auth(parse_tokens(settings.tokens, settings.tokens_file))
        check_bind(settings.host, self.auth)
        if store is None:
            store = open_store(settings.store)  # migrated, or a server store that migrates once it answers
        elif isinstance(store, Store):
            store.migrate()
        self.store = store
        self.pricer = Pricer(load_overrides(settings.prices_file))
        self.resolve_tier = TierResolver(settings.tier_map())
        self.spool = Spool(settings.spool_path(), max_bytes=settings.spool_max_mb * 1024 * 1024)
        self.writer = Writer(self.store, max_pending_spans=settings.max_pending_spans,
                             linger=settings.linger_ms / 1000, spool=self.spool)
        self.counters = Counters()
        self.alerts = AlertRunner(self.store, interval=settings.alert_interval_s) if settings.alert_interval_s else None
        self.rollup = RollupRefresher(self.store, interval=settings.rollup_interval_s) if settings.rollup_interval_s else None
        self.ready = False

    def reload_prices(self) -> None:
        """Pick up a changed prices.toml (new spans; `reprice` fixes stored ones)."""
        self.pricer = Pricer(load_overrides(self.settings.prices_file))

    def start(self) -> None:
        self.writer.start()
        if self.alerts:
            self.alerts.start()
        if self.rollup:
            self.rollup.start()
        self.ready = True

    def stop(self) -> None:
        self.ready = False
        if self.alerts:
            self.alerts.stop()
        if self.rollup:
            self.rollup.stop()
        self.writer.stop()

    def prepare(self, request: ExportTraceServiceRequest, tenant: str) -> tuple[Normalized, object]:
        """CPU half of an export: normalize, price and submit. Returns the rows and the write future."""
        rows = normalize(request, resolve_tier=self.resolve_tier, keep_content=self.settings.keep_content)
        now_us = time.time_ns() // 1000
        spans = spans_table(rows, tenant, self.pricer, now_us)
        quality = quality_table(rows, tenant, now_us)
        future = self.writer.submit(spans, quality)  # may raise Overloaded
        return rows, future

    async def export(self, request: ExportTraceServiceRequest, tenant: str = DEFAULT_TENANT) -> ExportResult:
        """Store the request's LLM spans; returns only once they are written."""
        self.counters.requests += 1
        rows, future = self.prepare(request, tenant)
        await asyncio.wrap_future(future)  # store errors propagate: the client retries
        return self._account(rows)

    def _account(self, rows: Normalized) -> ExportResult:
        c = self.counters
        c.spans_accepted += rows.span_count
        c.quality_accepted += rows.quality_count
        c.spans_rejected += rows.rejected
        c.spans_not_llm += rows.non_llm
        for tier, n in unknown_service_tiers(Counter(rows.spans["service_tier"]).items()).items():
            c.unknown_service_tiers[tier] = c.unknown_service_tiers.get(tier, 0) + n
        return ExportResult(rows.span_count + rows.quality_count, rows.rejected, rows.message())
