"""Where the store feeder's CPU work runs: in its own thread, or in worker processes for big batches.

Decode, normalize, price and Arrow cost ~30 µs of CPU per span, all under Python's GIL. Done on
the collector's thread they compete with the acknowledgement path; so a batch of at least
`min_pool_bytes` is cut into parts, the same number for each worker process (spawned, never
forked: the embedded store runs engine threads) and each about `part_bytes` at most; the parts are
built side by side while the feeder inserts the batch before, and merged into one insert. Small batches (a quiet collector, most tests) stay in-thread:
no process is started until the first big batch, which is built here while the workers boot --
unless the pool is `warm()`ed first, as `tierscope serve` does before it listens.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
import types
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from tierscope.collector.ingest.batch import Built, build, merge, stamps
from tierscope.collector.pricing.prices import Pricer, load_overrides
from tierscope.collector.pricing.tiers import TierResolver
from tierscope.collector.store.wal_format import Record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    """Everything a builder needs, picklable for worker processes."""

    prices_file: str = ""
    tier_map: tuple[tuple[str, str], ...] = ()
    keep_content: bool = False


class Builder:
    """Builds batches in the calling thread."""

    def __init__(self, config: BuildConfig) -> None:
        self.config = config
        self.pricer = Pricer(load_overrides(config.prices_file))
        self.resolve_tier = TierResolver(dict(config.tier_map))

    def __call__(self, records: list[Record], stamp: dict[str, int] | None = None) -> Built:
        return build(records, self.pricer, self.resolve_tier, self.config.keep_content, stamp)


_WORKER: Builder | None = None


def hot_path_gc() -> None:
    """The hot path allocates many short-lived objects per span: freeze the long-lived ones (price
    data, caches) and collect young objects less often (bench/results/experiments.md, bench/RESULTS.md).
    For the collector process and its workers."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _start_worker(config: BuildConfig) -> None:
    global _WORKER
    _WORKER = Builder(config)
    hot_path_gc()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), name="tierscope-orphan-watch",
                         daemon=True).start()


def _exit_with_parent(sentinel: int) -> None:
    """A worker whose collector died (kill -9, out of memory) exits at once, instead of idling with
    its memory until the machine restarts (a pool's workers wait on a pipe forever). The sentinel is
    multiprocessing's pipe from the parent: it reads as closed the moment the parent is gone."""
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


def _build_in_worker(records: list[Record], stamp: dict[str, int] | None = None) -> Built:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER(records, stamp)


def split(records: list[Record], parts: int) -> list[list[Record]]:
    """`records` cut into at most `parts` runs of about equal payload bytes, in order."""
    total = sum(len(r.payload) for r in records)
    out: list[list[Record]] = [[]]
    size = 0
    for record in records:  # a record goes to the part its middle byte falls in
        if out[-1] and len(out) < parts and size + len(record.payload) / 2 > total * len(out) / parts:
            out.append([])
        out[-1].append(record)
        size += len(record.payload)
    return out


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message, else its type's name (for a log line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Parts:
    """A batch built in parts: `result()` waits for every part and merges them (a failed part raises)."""

    def __init__(self, futures: list[Future]) -> None:
        self.futures = futures

    def result(self) -> Built:
        return merge([f.result() for f in self.futures])


@contextmanager
def _without_main():
    """A spawned process first re-runs its parent's `__main__` (an unguarded script, a Streamlit
    page, a notebook); a worker needs only this module, so it is shown a blank one while spawning."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class BuildPool:
    """`submit(records)` -> Future[Built] or Parts: in worker processes for big batches, else in-thread."""

    def __init__(self, config: BuildConfig, workers: int = -1, min_pool_bytes: int = 256 << 10,
                 part_bytes: int = 2 << 20) -> None:
        self.local = Builder(config)
        self.config = config
        self.workers = (os.cpu_count() or 1) if workers < 0 else workers
        self.min_pool_bytes, self.part_bytes = min_pool_bytes, part_bytes
        self.pooled_batches = 0
        self.restarts = 0
        self.max_restarts = 3
        self._pool: ProcessPoolExecutor | None = None
        self._warm: list[Future] = []

    @property
    def depth(self) -> int:
        """Batches in flight: with workers, the next one builds (on every worker) while one inserts."""
        return 2 if self.workers else 1

    def parts(self, size: int) -> int:
        """Parts to cut a batch of `size` bytes into: a multiple of the workers, each at most about
        `part_bytes` (a worker's memory grows with its part), none under `min_pool_bytes`."""
        per_worker = -(-size // (self.workers * self.part_bytes))
        return max(1, min(size // self.min_pool_bytes, self.workers * per_worker))

    def submit(self, records: list[Record]) -> Future | Parts:
        """Build on the workers once the pool is up; while it starts (the first big batch starts it),
        build here, so no batch waits for interpreters to boot."""
        size = sum(len(r.payload) for r in records)
        if self.workers and size >= self.min_pool_bytes:
            try:
                if self.started():
                    stamp = stamps(records)  # the whole batch's, so a replay writes the same keys
                    parts = split(records, self.parts(size))
                    self.pooled_batches += 1
                    return Parts([self._pool.submit(_build_in_worker, part, stamp) for part in parts])
            except (BrokenProcessPool, RuntimeError, OSError) as exc:
                self._broken(_reason(exc))
        return self.run_here(records)

    def warm(self, timeout: float = 60.0) -> bool:
        """Start the workers now and wait (at most `timeout` s) until each has booted, so that the
        first big batch does not pay for their start; False if they are not up (the pool then keeps
        starting in the background, or builds in the feeder's thread if it cannot start)."""
        if not self.workers:
            return False
        try:
            self.started()
            wait(self._warm, timeout)
            return self.started()
        except (BrokenProcessPool, RuntimeError, OSError) as exc:
            self._broken(_reason(exc))
            return False

    def _broken(self, reason: str) -> None:
        """A worker died (killed, out of memory): start a new pool with the next big batch, at most
        `max_restarts` times. Workers that cannot start here at all: build in the feeder's thread."""
        was_up = self._pool is not None and not self._warm
        self.close()
        if was_up and self.restarts < self.max_restarts:
            self.restarts += 1
            log.warning("an ingest worker process died (%s); restarting the pool (%d of %d)",
                        reason, self.restarts, self.max_restarts)
            return
        log.warning("ingest worker processes unavailable (%s); building in the feeder's thread", reason)
        self.workers = 0

    def run_here(self, records: list[Record]) -> Future:
        future: Future = Future()
        try:
            future.set_result(self.local(records))
        except Exception as exc:  # reported through the future, like a worker's error
            future.set_exception(exc)
        return future

    def started(self) -> bool:
        """Start the pool if need be; True once every worker has started (and built a batch)."""
        if self._pool is None:
            with _without_main():  # each warm-up submit spawns one worker (the pool never spawns more)
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_start_worker, initargs=(self.config,))
                self._warm = [self._pool.submit(_build_in_worker, []) for _ in range(self.workers)]
        if self._warm and all(f.done() for f in self._warm):
            for f in self._warm:
                f.result()  # a worker that failed to start raises here
            self._warm = []
        return not self._warm

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool, self._warm = None, []
