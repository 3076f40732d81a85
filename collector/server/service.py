"""The collector's core, shared by the OTLP/HTTP and OTLP/gRPC front doors.

Ack path: the front door validates the body (decode.accept_body) -> append to the ingest log,
fsync'd with group commit -> acknowledge. Store path, off the ack path: the feeder reads the log
-> normalize -> price -> Arrow -> one insert per large batch -> confirm in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tierscope.collector.alerts.runner import AlertRunner
from tierscope.collector.ingest.batch import pack
from tierscope.collector.ingest.decode import Accepted
from tierscope.collector.ingest.workers import BuildConfig, BuildPool
from tierscope.collector.server.auth import DEFAULT_TENANT, Auth, check_bind, parse_tokens
from tierscope.collector.store.clickhouse import Store
from tierscope.collector.store.feeder import Feeder
from tierscope.collector.store.reconnect import ReconnectingStore, open_store
from tierscope.collector.store.rollup import RollupRefresher
from tierscope.collector.store.wal import LogFull, WriteAheadLog
from tierscope.settings import Settings

log = logging.getLogger(__name__)


def export_response(accepted: Accepted) -> ExportTraceServiceResponse:
    """The OTLP answer: partial_success names the spans refused at decode time (bad ids, no start)."""
    response = ExportTraceServiceResponse()
    if accepted.rejected:
        response.partial_success.rejected_spans = accepted.rejected
        response.partial_success.error_message = accepted.message
    return response


@dataclass
class Counters:
    requests: int = 0
    spans_received: int = 0  # in acknowledged requests, LLM or not
    rejected_overload: int = 0
    spans_rejected_at_ack: int = 0  # invalid at decode time, reported in partial_success
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
        self.log = WriteAheadLog(settings.spool_path(), max_bytes=settings.spool_max_mb << 20,
                                 segment_bytes=settings.log_segment_mb << 20)
        self.builder = BuildPool(self._build_config(), workers=settings.ingest_workers)
        self.feeder = Feeder(self.log, self._insert, self.builder, batch_bytes=settings.feeder_batch_mb << 20)
        self.counters = Counters()
        self.alerts = AlertRunner(self.store, interval=settings.alert_interval_s) if settings.alert_interval_s else None
        self.rollup = RollupRefresher(self.store, interval=settings.rollup_interval_s) if settings.rollup_interval_s else None
        self.ready = False

    def _build_config(self) -> BuildConfig:
        return BuildConfig(self.settings.prices_file, tuple(self.settings.tier_map().items()),
                           self.settings.keep_content)

    def reload_prices(self) -> None:
        """Pick up a changed prices.toml (new spans; `reprice` fixes stored ones)."""
        old, self.builder = self.builder, BuildPool(self._build_config(), workers=self.settings.ingest_workers)
        self.feeder.builder = self.builder
        old.close()

    def start(self) -> None:
        self.feeder.start()
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
        self.flush(timeout=10)  # a clean stop leaves an empty log when the store is up
        self.feeder.stop()
        self.builder.close()
        self.log.close()

    def _insert(self, table: str, rows: object) -> None:
        self.store.insert(table, rows)

    def append(self, accepted: Accepted, tenant: str = DEFAULT_TENANT) -> Future:
        """Queue a validated request for the log; the future resolves once it is durable (at once
        for a request without spans). Raises LogFull (answered 429) at the log's cap."""
        self.counters.requests += 1
        self.counters.spans_rejected_at_ack += accepted.rejected
        if accepted.spans == accepted.rejected:
            future: Future = Future()
            future.set_result(None)
            return future
        try:
            future = self.log.append(pack(tenant, accepted.body))
        except LogFull:
            self.counters.rejected_overload += 1
            raise
        self.counters.spans_received += accepted.spans
        return future

    async def export(self, accepted: Accepted, tenant: str = DEFAULT_TENANT) -> None:
        """Returns once the request is in the log (fsync'd); errors propagate: then nothing is acked."""
        await asyncio.wrap_future(self.append(accepted, tenant))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record acknowledged so far is in the store (or `timeout`, default
        settings.read_wait_s, passes, or the store is down): reads then see every acked span."""
        if not getattr(self.store, "available", True):
            return False
        timeout = self.settings.read_wait_s if timeout is None else timeout
        if self.feeder.store_down:  # inserts are failing: wait only for the feeder's next attempt
            timeout = min(timeout, self.feeder.max_backoff + 0.5)
        return self.log.wait_confirmed(self.log.end, timeout)

    def stats(self) -> dict[str, object]:
        """Ingest counters, the log's backlog and the feeder's rate (GET /api/v1/stats)."""
        c, f, backlog = self.counters, self.feeder.stats, self.log.backlog()
        return {
            "requests": c.requests, "spans_received": c.spans_received, "spans_accepted": f.spans_written,
            "quality_accepted": f.quality_written, "spans_rejected": f.spans_rejected,
            "rejected_reasons": dict(f.rejected_reasons), "spans_not_llm": f.spans_not_llm,
            "damaged_records": f.damaged_records, "spans_written": f.spans_written, "inserts": f.inserts,
            "failed_inserts": f.failed_inserts, "rejected_overload": c.rejected_overload,
            "spans_rejected_at_ack": c.spans_rejected_at_ack,
            "log_bytes": backlog.bytes, "log_records": backlog.records,
            "log_oldest_age_s": round(backlog.oldest_age_s, 3), "log_max_bytes": self.log.max_bytes,
            "log_segments": len(self.log.segments()), "log_fsyncs": self.log.fsyncs,
            "feeder_spans_per_s": round(self.feeder.rate(), 1), "feeder_error": f.last_error,
            "unknown_service_tiers": dict(f.unknown_service_tiers),
            "store_available": getattr(self.store, "available", True) and not self.feeder.store_down,
        }

    def store_memory(self) -> int | None:
        """Bytes the ClickHouse engine tracks as in use (MemoryTracking: the embedded engine's share of this
        process, or the server's); None while the store does not answer."""
        try:
            return int(self.store.rows("SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'")[0][0])
        except Exception:  # a store that is down (clickhouse-connect and chdb raise many types): unknown
            return None

    def health(self) -> tuple[str, dict[str, object]]:
        """("ok" | "degraded", details): degraded while the store is down or the backlog is too old."""
        backlog = self.log.backlog()
        detail: dict[str, object] = {"store": self.store.describe(), "log_bytes": backlog.bytes,
                                     "log_oldest_age_s": round(backlog.oldest_age_s, 3)}
        if not getattr(self.store, "available", True):
            return "degraded", {**detail, "error": self.store.reason()}
        if backlog.oldest_age_s > self.settings.degraded_backlog_s:
            error = self.feeder.stats.last_error or "the store feeder is behind"
            return "degraded", {**detail, "error": f"oldest span in the ingest log waited "
                                f"{backlog.oldest_age_s:.0f}s (> {self.settings.degraded_backlog_s:g}s): {error}"}
        return "ok", detail
