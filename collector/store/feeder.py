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
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tierscope.collector.ingest.batch import Built, merge_reasons
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
    last_error: str = ""


class Feeder:
    def __init__(self, wal: WriteAheadLog, insert: Callable[[str, object], None],
                 build: Callable[[list[Record]], Built], *, batch_bytes: int = 32 << 20,
                 first_backoff: float = 0.2, max_backoff: float = 10.0) -> None:
        self.wal, self.insert, self.build = wal, insert, build
        self.batch_bytes = batch_bytes
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self.stats = FeederStats()
        self.store_down = False
        self._rate: deque[tuple[float, int]] = deque(maxlen=256)  # (monotonic time, spans) per batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tierscope-feeder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the batch in hand (whatever is not confirmed stays in the log)."""
        self._stop.set()
        self._thread.join(timeout)

    def rate(self, window: float = 10.0) -> float:
        """Spans written per second over the last `window` seconds."""
        now = time.monotonic()
        spans = sum(n for t, n in list(self._rate) if now - t <= window)
        return spans / window

    def _run(self) -> None:
        position = self.wal.confirmed
        while not self._stop.is_set():
            if not self.wal.wait(position, timeout=0.5):
                continue
            records = self.wal.read(position, self.batch_bytes)
            if not records:
                continue
            try:
                built = self.build(records)
            except Exception as exc:  # a defect, not the data's fault: keep the records, say so, retry
                log.exception("building rows from the ingest log failed; retrying")
                self.stats.last_error = f"build failed: {exc}"[:300]
                self._stop.wait(self.max_backoff)
                continue
            if not self._insert(built):
                return  # stopping while the store is down: the records stay in the log
            self.wal.confirm(records[-1].end, len(records))
            position = records[-1].end
            self._account(built)

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
        self._rate.append((time.monotonic(), built.spans.num_rows))
