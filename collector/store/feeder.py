"""The store feeder: the one thread that moves the ingest log into the store.

It reads the log in order, builds rows for a large batch at a time (`build`: normalize, price,
Arrow), inserts them and only then confirms the batch's end in the log, which lets the log drop
the segments behind it. While the store is down it retries with capped exponential backoff and
the log holds everything (acks never wait on this thread). Batches are bounded in bytes, so
memory stays bounded whatever the backlog; they grow by themselves under load, since everything
appended while one insert runs goes into the next.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from tierscope.collector.ingest.batch import Built, merge_reasons
from tierscope.collector.store.loop import Loop
from tierscope.collector.store.wal import WriteAheadLog
from tierscope.collector.store.wal_format import Record

log = logging.getLogger(__name__)


@dataclass
class FeederStats:
    batches: int = 0
    inserts: int = 0
    failed_inserts: int = 0
    spans_written: int = 0
    quality_written: int = 0
    spans_not_llm: int = 0
    spans_rejected: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    damaged_records: int = 0
    unknown_service_tiers: dict[str, int] = field(default_factory=dict)
    last_error: str = ""


class Feeder(Loop):
    """`builder` has submit(records) -> Future[Built], run_here(records) -> Future[Built] and
    depth (batches built ahead while one is inserted): collector/ingest/workers.BuildPool."""

    def __init__(self, wal: WriteAheadLog, insert: Callable[[str, object], None], builder: Any, *,
                 batch_bytes: int = 32 << 20, first_backoff: float = 0.2, max_backoff: float = 2.0) -> None:
        super().__init__("tierscope-feeder")
        self.wal, self.insert, self.builder = wal, insert, builder
        self.batch_bytes = batch_bytes
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self.stats = FeederStats()
        self.store_down = False
        self._rate: deque[tuple[float, int]] = deque(maxlen=256)  # (monotonic time, spans) per batch

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the batch in hand (whatever is not confirmed stays in the log)."""
        super().stop(timeout)

    def rate(self, window: float = 10.0) -> float:
        """Spans written per second over the last `window` seconds."""
        now = time.monotonic()
        spans = sum(n for t, n in list(self._rate) if now - t <= window)
        return spans / window

    def _run(self) -> None:
        read_at = self.wal.confirmed
        inflight: deque[tuple[list[Record], Future]] = deque()
        while not self._stop.is_set():
            while len(inflight) < self.builder.depth and self.wal.end > read_at:
                records = self.wal.read(read_at, self.batch_bytes)
                read_at = records[-1].end
                inflight.append((records, self.builder.submit(records)))
            if not inflight:
                self.wal.wait(read_at, timeout=0.5)
                continue
            records, future = inflight.popleft()
            built = self._built(records, future)
            if built is None or not self._insert(built):
                return  # stopping (the records stay in the log for the next start)
            self.wal.confirm(records[-1].end, len(records))
            self._account(built)

    def _built(self, records: list[Record], future: Future) -> Built | None:
        """The batch's rows; a failed build (a worker died, a defect) is retried here, never skipped."""
        while True:
            try:
                return future.result()
            except Exception as exc:  # keep the records, say so, retry in this thread
                log.exception("building rows from the ingest log failed; retrying")
                self.stats.last_error = f"build failed: {exc}"[:300]
                if self._stop.wait(self.first_backoff):
                    return None
                future = self.builder.run_here(records)

    def _insert(self, built: Built) -> bool:
        """Insert the batch, retrying with backoff until it is in or the feeder stops."""
        delay = self.first_backoff
        while True:
            try:
                self.insert("llm_spans", built.spans)
                self.insert("quality_events", built.quality)
            except Exception as exc:  # the store failed (clickhouse-connect raises many types): retry
                self.stats.failed_inserts += 1
                self.stats.last_error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                log.log(logging.DEBUG if self.store_down else logging.WARNING,
                        "store insert failed, retrying (spans wait in the ingest log): %s", self.stats.last_error)
                self.store_down = True
                if self._stop.wait(delay):
                    return False
                delay = min(self.max_backoff, delay * 2)
                continue
            if self.store_down:
                log.warning("store is writable again; the ingest log drains")
            self.store_down = False
            self.stats.last_error = ""
            return True

    def _account(self, built: Built) -> None:
        s = self.stats
        s.batches += 1
        s.inserts += 1
        s.spans_written += built.spans.num_rows
        s.quality_written += built.quality.num_rows
        s.spans_not_llm += built.non_llm
        s.spans_rejected += built.rejected
        s.damaged_records += built.damaged_records
        merge_reasons(s.rejected_reasons, built.reasons)
        for tier, n in built.unknown_service_tiers.items():
            s.unknown_service_tiers[tier] = s.unknown_service_tiers.get(tier, 0) + n
        self._rate.append((time.monotonic(), built.spans.num_rows))
