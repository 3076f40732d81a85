"""The single writer: coalesces accepted batches into one Arrow insert, and bounds what waits.

Each OTLP request hands its rows to `submit()` and waits on the returned future; the future
resolves only after the rows are in the store, so an OTLP success means the spans are stored.
Many concurrent requests share one insert (the writer lingers `linger` seconds to gather them).
When more than `max_pending_spans` wait, `submit()` raises Overloaded and the client is told to
retry later (429 / RESOURCE_EXHAUSTED), so memory stays bounded under any burst.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

import pyarrow as pa

from tierscope.collector.store.spool import Spool, SpoolFull
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import Overloaded

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    spans: pa.Table
    quality: pa.Table
    future: Future


@dataclass
class WriterStats:
    spans_written: int = 0
    quality_written: int = 0
    inserts: int = 0
    failed_inserts: int = 0
    rejected_overload: int = 0
    spooled_batches: int = 0
    drained_rows: int = 0
    rejected_spool_full: int = 0
    max_pending_seen: int = 0


class Writer:
    def __init__(self, store: Store, *, max_pending_spans: int = 200_000, linger: float = 0.02,
                 max_batch_spans: int = 100_000, spool: Spool | None = None, drain_every: float = 1.0) -> None:
        self.store = store
        self.spool = spool
        self.drain_every = drain_every
        self._next_drain = 0.0
        self.max_pending_spans = max_pending_spans
        self.linger = linger
        self.max_batch_spans = max_batch_spans
        self.stats = WriterStats()
        self._queue: deque[_Pending] = deque()
        self._pending_spans = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._store_down = False
        self._thread = threading.Thread(target=self._run, name="tierscope-writer", daemon=True)

    @property
    def pending_spans(self) -> int:
        return self._pending_spans

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def submit(self, spans: pa.Table, quality: pa.Table) -> Future:
        future: Future = Future()
        size = spans.num_rows + quality.num_rows
        if size == 0:
            future.set_result(None)
            return future
        with self._cond:
            if self._stopping:
                raise Overloaded(retry_after=5)
            if self._pending_spans and self._pending_spans + size > self.max_pending_spans:
                self.stats.rejected_overload += 1
                raise Overloaded()
            self._pending_spans += size
            self.stats.max_pending_seen = max(self.stats.max_pending_seen, self._pending_spans)
            self._queue.append(_Pending(spans, quality, future))
            self._cond.notify()
        return future

    def _take(self) -> list[_Pending]:
        with self._cond:
            while not self._queue and not self._stopping:
                if self.spool is not None and len(self.spool):
                    self._cond.wait(self.drain_every)
                    if not self._queue:
                        return [None]  # a tick: drain the spool
                else:
                    self._cond.wait()
            if not self._queue:
                return []
        if self.linger and not self._stopping:
            time.sleep(self.linger)  # let concurrent requests join this insert
        batch, rows = [], 0
        with self._cond:
            while self._queue and (not batch or rows + self._queue[0].spans.num_rows <= self.max_batch_spans):
                item = self._queue.popleft()
                rows += item.spans.num_rows
                batch.append(item)
        return batch

    def _spool(self, spans: pa.Table, quality: pa.Table, cause: Exception) -> Exception | None:
        """Spool a failed batch; returns None when it is durably on disk, else the error to report."""
        if self.spool is None:
            return cause
        try:
            self.spool.put({"llm_spans": spans, "quality_events": quality})
        except SpoolFull as full:
            self.stats.rejected_spool_full += 1
            return full
        except OSError as exc:
            return exc
        self.stats.spooled_batches += 1
        self._next_drain = time.monotonic() + self.drain_every
        return None

    def _drain(self) -> None:
        """Move spooled batches into the store, at most once per drain_every while it is down."""
        now = time.monotonic()
        if self.spool is None or now < self._next_drain or not len(self.spool):
            return
        try:
            self.stats.drained_rows += self.spool.drain(self.store.insert)
        except Exception as exc:  # still down: try again later
            self._next_drain = now + self.drain_every
            log.info("spool drain deferred: %s", str(exc).splitlines()[0][:200])

    def _run(self) -> None:
        self._drain()  # what a previous run spooled before it stopped or crashed
        while True:
            batch = self._take()
            if not batch:
                self._drain()
                return
            if batch == [None]:
                self._drain()
                continue
            spans = _concat([p.spans for p in batch])
            quality = _concat([p.quality for p in batch])
            try:
                if self.spool is not None and len(self.spool):
                    self._drain()
                    if len(self.spool):
                        raise RuntimeError("store still unavailable (spool not drained)")
                self.store.insert("llm_spans", spans)
                self.store.insert("quality_events", quality)
            except Exception as exc:  # the store failed: spool durably, or refuse
                self.stats.failed_inserts += 1
                # Once per outage at warning level: a store down for an hour would flood the log.
                log.log(logging.DEBUG if self._store_down else logging.WARNING, "insert of %d requests failed: %s",
                        len(batch), str(exc).splitlines()[0][:200])
                self._store_down = True
                error = self._spool(spans, quality, exc)
                for p in batch:
                    if error is None:
                        p.future.set_result(None)
                    else:
                        p.future.set_exception(error)
            else:
                if self._store_down:
                    log.warning("store is writable again; inserts resumed")
                    self._store_down = False
                self.stats.inserts += 1
                self.stats.spans_written += spans.num_rows
                self.stats.quality_written += quality.num_rows
                for p in batch:
                    p.future.set_result(None)
            finally:
                with self._cond:
                    self._pending_spans -= sum(p.spans.num_rows + p.quality.num_rows for p in batch)


def _concat(tables: list[pa.Table]) -> pa.Table:
    non_empty = [t for t in tables if t.num_rows]
    return pa.concat_tables(non_empty) if non_empty else tables[0]
