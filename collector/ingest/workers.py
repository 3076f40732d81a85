"""Where the store feeder's CPU work runs: in its own thread, or in worker processes for big batches.

Decode, normalize, price and Arrow cost ~30 µs of CPU per span, all under Python's GIL. Done on
the collector's thread they compete with the acknowledgement path; so a batch of at least
`min_pool_bytes` is built in a worker process (spawned, never forked: the embedded store runs
engine threads), one per core, while the feeder inserts the batch before it. Small batches (a
quiet collector, most tests) stay in-thread: no process is started until the first big batch.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from tierscope.collector.ingest.batch import Built, build
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

    def __call__(self, records: list[Record]) -> Built:
        return build(records, self.pricer, self.resolve_tier, self.config.keep_content)


_WORKER: Builder | None = None


def _start_worker(config: BuildConfig) -> None:
    global _WORKER
    _WORKER = Builder(config)


def _build_in_worker(records: list[Record]) -> Built:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER(records)


class BuildPool:
    """`submit(records)` -> Future[Built]: in a worker process for big batches, else in-thread."""

    def __init__(self, config: BuildConfig, workers: int = -1, min_pool_bytes: int = 256 << 10) -> None:
        self.local = Builder(config)
        self.config = config
        self.workers = (os.cpu_count() or 1) if workers < 0 else workers
        self.min_pool_bytes = min_pool_bytes
        self.pooled_batches = 0
        self._pool: ProcessPoolExecutor | None = None
        self._warm: list[Future] = []

    @property
    def depth(self) -> int:
        """Batches worth building ahead of the insert in hand."""
        return max(1, self.workers)

    def submit(self, records: list[Record]) -> Future:
        """Build in a worker once the pool is up; while it starts (the first big batch starts it),
        build here, so no batch waits for interpreters to boot."""
        if self.workers and sum(len(r.payload) for r in records) >= self.min_pool_bytes:
            try:
                if self._executor_ready():
                    future = self._pool.submit(_build_in_worker, records)
                    self.pooled_batches += 1
                    return future
            except (BrokenProcessPool, RuntimeError, OSError) as exc:  # cannot start workers here
                log.warning("ingest worker processes unavailable (%s); building in the feeder's thread",
                            str(exc).strip().splitlines()[0])
                self.close()
                self.workers = 0
        return self.run_here(records)

    def run_here(self, records: list[Record]) -> Future:
        future: Future = Future()
        try:
            future.set_result(self.local(records))
        except Exception as exc:  # reported through the future, like a worker's error
            future.set_exception(exc)
        return future

    def _executor_ready(self) -> bool:
        """Start the pool if need be; True once every worker has started (and built a batch)."""
        if self._pool is None:
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
