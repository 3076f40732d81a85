"""The store feeder's worker processes: a batch built in parts on them is the batch built in the
feeder's thread, and a worker killed mid-build loses nothing and counts nothing twice."""

from __future__ import annotations

import os
import signal
import sys
import time
import types
from decimal import Decimal
from pathlib import Path

from support import free_port, running_collector, serve_collector, wait_healthy
from test_durability import batch, expected_cost, post
from tierscope.client import ApiClient
from tierscope.collector.ingest.batch import pack
from tierscope.collector.ingest.workers import BuildConfig, Builder, BuildPool, Parts, split
from tierscope.collector.store.wal_format import Record

def rows(table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: (r["tenant"], r["trace_id"], r["span_id"]))


def test_split_keeps_order_and_balances_bytes():
    records = [Record(i, i, b"x" * size) for i, size in enumerate([10, 10, 10, 10, 40, 10, 10])]
    parts = split(records, 2)
    assert [r for part in parts for r in part] == records
    assert [sum(len(r.payload) for r in part) for part in parts] == [40, 60]
    assert split(records, 1) == [records]
    assert len(split(records[:1], 4)) == 1


def test_a_batch_built_in_parts_on_the_workers_is_the_batch_built_here():
    """Two tenants interleaved, non-LLM spans, a rejected trace (trace 0: an all-zero id) and a
    damaged record: same rows, same stamps, same counts."""
    records = [Record(end=i + 1, time_us=1_000 + 7 * i,
                      payload=pack("acme" if i % 2 else "beta", batch(i, spans=40 + i, plain=i % 3)))
               for i in range(12)]
    records.insert(5, Record(end=99, time_us=5, payload=pack("acme", b"\xff\xff\xff\xff")))
    pool = BuildPool(BuildConfig(), workers=2, min_pool_bytes=1 << 10)
    try:
        assert pool.warm(), "worker processes did not start"
        future = pool.submit(records)
        assert isinstance(future, Parts) and len(future.futures) == 2  # built on both workers
        pooled = future.result()
    finally:
        pool.close()
    here = Builder(BuildConfig())(records)
    assert pooled.spans.num_rows == here.spans.num_rows == sum(40 + i for i in range(1, 12))
    assert rows(pooled.spans) == rows(here.spans)
    assert rows(pooled.quality) == rows(here.quality)
    # each part carries the whole batch's stamp: its tenant's newest append time (a replay writes the same keys)
    stamps = {(r["tenant"], r["ingested_at"]) for r in pooled.spans.to_pylist()}
    assert len(stamps) == 2 and {t for t, _ in stamps} == {"acme", "beta"}
    assert (pooled.non_llm, pooled.rejected, pooled.damaged_records) == (here.non_llm, here.rejected, 1)
    assert pooled.non_llm == sum(i % 3 for i in range(12))
    assert pooled.reasons == here.reasons == {"trace_id must be 16 bytes, not all zero": 40}
    assert pooled.rejected == 40


def test_warm_boots_the_workers_before_the_first_batch_and_no_workers_means_in_thread():
    """`tierscope serve` warms the pool before it listens: the first big batch then goes to the
    workers instead of being built in the feeder's thread while they boot."""
    records = [Record(i + 1, i, pack("acme", batch(i + 1, spans=30))) for i in range(4)]
    pool = BuildPool(BuildConfig(), workers=2, min_pool_bytes=1 << 10)
    try:
        assert pool.warm() and pool.started()
        first = pool.submit(records)
        assert isinstance(first, Parts) and first.result().spans.num_rows == 120
    finally:
        pool.close()
    lazy = BuildPool(BuildConfig(), workers=2, min_pool_bytes=1 << 10)
    try:  # not warmed: the first big batch is built here while the workers start
        assert not isinstance(lazy.submit(records), Parts)
    finally:
        lazy.close()
    none = BuildPool(BuildConfig(), workers=0, min_pool_bytes=1 << 10)
    assert not none.warm() and not isinstance(none.submit(records), Parts) and none._pool is None


def test_workers_do_not_rerun_the_parents_main_script(tmp_path, monkeypatch):
    """Spawned processes re-run the parent's `__main__` unless told otherwise: a script without a
    `__name__` guard, a Streamlit page, a notebook. The workers start and build without running it."""
    script = tmp_path / "app.py"
    marker = tmp_path / "ran"
    script.write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit('the parent script ran in a worker')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    pool = BuildPool(BuildConfig(), workers=2, min_pool_bytes=1 << 10)
    try:
        assert pool.warm(), "worker processes did not start"
        assert sys.modules["__main__"] is main
        built = pool.submit([Record(1, 1, pack("acme", batch(1, spans=30)))] * 2).result()
    finally:
        pool.close()
    assert built.spans.num_rows == 60 and pool.workers == 2 and pool.restarts == 0
    assert not marker.exists()


def test_a_worker_killed_mid_build_loses_nothing_and_the_pool_comes_back(tmp_path):
    """SIGKILL both workers right after a batch went to them: the feeder builds that batch itself,
    the next big batch starts a new pool, and the totals are exact."""
    spans = 2_000  # one ~300 KiB request: a batch big enough for the workers
    with running_collector(tmp_path / "db", ingest_workers=2, grpc_port=0) as bc:
        pool = bc.collector.builder
        real_submit, killed = pool.submit, []

        def submit(records):
            out = real_submit(records)
            if isinstance(out, Parts) and not killed:
                killed.extend(p.pid for p in pool._pool._processes.values())
                for pid in killed:
                    os.kill(pid, signal.SIGKILL)
            return out

        pool.submit = submit
        api = ApiClient(bc.url)
        sent = []
        deadline = time.monotonic() + 120
        while pool.restarts == 0 or pool.pooled_batches < 3:  # killed once, then pooled again
            assert time.monotonic() < deadline, (pool.restarts, pool.pooled_batches)
            n = len(sent) + 1  # trace 0 would be an all-zero id
            response = post(bc.url, batch(n, spans))
            assert response.status_code == 200
            sent.append(n)
            bc.collector.flush(timeout=60)
        assert killed and pool.restarts == 1 and pool.workers == 2
        total = api.get("spend", by="role")["total"]
        assert total["spans"] == spans * len(sent)
        assert Decimal(total["cost_usd"]) == expected_cost(sent, spans)
        assert bc.collector.feeder.stats.failed_inserts == 0


def _children(pid: int) -> list[int]:
    """Child processes of `pid` (from /proc: no psutil here)."""
    return [int(c) for task in Path(f"/proc/{pid}/task").glob("*") for c in (task / "children").read_text().split()]


def _started(pid: int) -> str | None:
    """The process's start time (ticks since boot), or None if it is gone or a zombie waiting to be
    reaped: with the start time, a pid reused by another process is not taken for the same one."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def test_workers_exit_when_their_collector_is_killed(tmp_path):
    """`tierscope serve` boots its workers before it listens; kill -9 of the collector must not leave
    them behind (each holds its own interpreter and price tables)."""
    port = free_port()
    proc = serve_collector(f"chdb:{tmp_path / 'store'}", port, {"TIERSCOPE_INGEST_WORKERS": "2"})
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        children = _children(proc.pid)  # the workers and multiprocessing's resource tracker
        spawned = [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(spawned) == 2, children  # warm before healthy
        started = {pid: _started(pid) for pid in children}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 15
    while left := [pid for pid in children if _started(pid) == started[pid]]:
        assert time.monotonic() < deadline, f"orphaned processes still running: " + "; ".join(
            f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes()[:200]!r}" for pid in left)
        time.sleep(0.1)
