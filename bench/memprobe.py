"""Where the collector's memory goes during a soak: a diagnostic for the RSS spread `make soak` reports.

Runs the collector in this process (as `tierscope serve` does: same settings, gc.freeze) and a steady
OTLP/HTTP sender in a child process, and every `--every` seconds records RSS beside its parts: the
ClickHouse engine's own tracked memory (system.metrics MemoryTracking), running merges and their
memory, active parts, the Arrow memory pool, and glibc malloc's view (mallinfo2: bytes in use vs
held free in arenas). Writes a CSV to bench/results/memprobe-*.csv and prints a summary.

    python bench/memprobe.py [--minutes 3] [--rate 4000] [--every 2]

Environment knobs under test (MALLOC_ARENA_MAX, ...) are read by the process as usual, so run
e.g. `MALLOC_ARENA_MAX=2 python bench/memprobe.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import csv
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from collector_process import free_port, status_kib  # noqa: E402

SENDER = """
import sys, time, httpx
sys.path.insert(0, sys.argv[1])
from workload import request_bodies
url, rate, seconds = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
batch = 500
bodies = request_bodies(int(rate * seconds) // batch * batch, batch=batch, seed=11)
print("ready", flush=True)
client = httpx.Client(timeout=60)
began = time.monotonic()
for i, body in enumerate(bodies):
    due = began + i * batch / rate
    if (wait := due - time.monotonic()) > 0:
        time.sleep(wait)
    while True:
        r = client.post(url + "/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
        if r.status_code == 200:
            break
        time.sleep(float(r.headers.get("retry-after", "1")))
print("sent", len(bodies) * batch, flush=True)
"""


# chdb's own allocator is a static jemalloc (system.build_options USE_JEMALLOC): its summary line.
_JE_SUMMARY = re.compile(r"Allocated: (?P<je_allocated>\d+), active: \d+, metadata: \d+ .*?, "
                         r"resident: (?P<je_resident>\d+), mapped: \d+, retained: (?P<je_retained>\d+)")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def mallinfo() -> dict[str, float]:
    """glibc's heap: MiB obtained from the OS by sbrk/arenas, held by mmapped chunks, in use, free."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    m = libc.mallinfo2()
    mib = 1 / (1 << 20)
    return {"malloc_arena": m.arena * mib, "malloc_mmap": m.hblkhd * mib, "malloc_used": m.uordblks * mib,
            "malloc_free": m.fordblks * mib}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=int, default=4_000)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--tag", default="", help="label for the CSV name (the knob under test)")
    parser.add_argument("--purge-every", type=float, default=0,
                        help="run SYSTEM JEMALLOC PURGE this often (seconds; 0: never), to test releasing dirty pages")
    parser.add_argument("--horizontal", action="store_true",
                        help="undo migration 0005 (ClickHouse's default merge algorithm), for an A/B comparison")
    args = parser.parse_args()

    from tierscope.collector.server.background import BackgroundCollector
    from tierscope.settings import Settings

    home = tempfile.mkdtemp(prefix="tierscope-memprobe-")
    settings = Settings(store=f"chdb:{home}/store", http_port=free_port(), grpc_port=0, prices_file="")
    collector = BackgroundCollector(settings).start(timeout=120)
    store = collector.collector.store
    if args.horizontal:
        store.command("ALTER TABLE llm_spans RESET SETTING vertical_merge_algorithm_min_rows_to_activate, "
                      "vertical_merge_algorithm_min_columns_to_activate")
    rows: list[dict[str, float]] = []
    done = threading.Event()
    # Which store call is running when RSS is read (the probe's own queries wait for the store lock,
    # so a query's transient memory shows only in RSS): the writer and rollup call these wrappers.
    inflight: list[str] = []
    probe = type("Probe", (), {"rows": staticmethod(store.rows), "command": staticmethod(store.command)})()

    def traced(name: str, call):
        def run(*args, **kwargs):
            inflight.append(f"{name}:{args[0]}" if name in ("insert", "execute", "query") else name)
            try:
                return call(*args, **kwargs)
            finally:
                inflight.pop()
        return run

    for name in ("insert", "execute", "query", "query_arrow", "command", "rows"):
        setattr(store, name, traced(name, getattr(store, name)))

    def engine() -> dict[str, float]:
        tracked = probe.rows("SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'")[0][0]
        merges = probe.rows("SELECT count(), sum(memory_usage) FROM system.merges")[0]
        parts = probe.rows("SELECT count() FROM system.parts WHERE active AND database = currentDatabase()")[0][0]
        for big in probe.rows("SELECT table, num_parts, rows_read, total_size_bytes_compressed, merge_algorithm, "
                              "memory_usage FROM system.merges WHERE memory_usage > 50000000"):
            print("  big merge:", big, flush=True)
        stats = probe.rows("SELECT * FROM system.jemalloc_stats")[0][0]
        je = {k: int(v) / (1 << 20) for k, v in _JE_SUMMARY.search(stats).groupdict().items()}
        return {**je, "ch_tracked": tracked / (1 << 20), "merges": merges[0], "merge_mem": (merges[1] or 0) / (1 << 20),
                "parts": parts}

    def sample(began: float) -> None:
        while not done.wait(args.every):
            pid = os.getpid()
            running = "/".join(inflight) or "-"
            row = {"t": time.monotonic() - began, "rss": status_kib(pid, "VmRSS") / 1024,
                   "rss_anon": status_kib(pid, "RssAnon") / 1024, "rss_file": status_kib(pid, "RssFile") / 1024,
                   "py_blocks_k": sys.getallocatedblocks() / 1000,
                   "arrow_pool": pa.total_allocated_bytes() / (1 << 20),
                   "spans": collector.collector.feeder.stats.spans_written,
                   "rollup_stamps": getattr(collector.collector.rollup, "hours_refreshed", 0)}
            row.update(mallinfo())
            row.update(engine())
            row["running"] = running
            rows.append(row)

    sender = subprocess.Popen([sys.executable, "-c", SENDER, str(HERE), collector.url, str(args.rate),
                               str(args.minutes * 60)], stdout=subprocess.PIPE, text=True)
    assert sender.stdout is not None
    sender.stdout.readline()  # bodies built
    began = time.monotonic()
    sampler = threading.Thread(target=sample, args=(began,), daemon=True)
    sampler.start()
    if args.purge_every:
        def purge() -> None:
            while not done.wait(args.purge_every):
                probe.command("SYSTEM JEMALLOC PURGE")

        threading.Thread(target=purge, daemon=True).start()
    print(f"probe: {args.rate}/s for {args.minutes:g} min, {'horizontal' if args.horizontal else 'vertical'} merges, purge every {args.purge_every:g}s, arena max {os.environ.get('MALLOC_ARENA_MAX', '-')}, "
          f"arrow pool {pa.default_memory_pool().backend_name}, load {os.getloadavg()[0]:.2f}", flush=True)
    sender.wait()
    done.set()
    sampler.join()
    collector.stop()

    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}"
    out = HERE / "results" / f"memprobe-{args.tag or 'default'}-{stamp}.csv"
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    steady = [r for r in rows if r["t"] >= args.minutes * 60 * 0.2]
    by_call: dict[str, list[float]] = {}
    for r in steady:
        by_call.setdefault(r["running"], []).append(r["rss"])
    for call, rss in sorted(by_call.items(), key=lambda kv: -len(kv[1])):
        print(f"  RSS while {call}: n={len(rss)} mean {sum(rss) / len(rss):.1f} max {max(rss):.1f}")
    for key in rows[0]:
        if key == "running":
            continue
        values = [r[key] for r in steady]
        mean = sum(values) / len(values)
        spread = max(abs(v - mean) for v in values) / mean if mean else 0.0
        print(f"  {key:>12}: min {min(values):9.1f}  mean {mean:9.1f}  max {max(values):9.1f}  ±{spread:.1%}")
    print(f"csv: {out}; load now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
