"""Section: what a read costs as the open hour fills (issue #15's first line).

A store with history (`--history` spans over `--days` days, merged, its rollup filled) gets an open
hour of live ingest: spans spread over [top of the hour, :55), inserted in several parts as the
writer leaves them, the rollup refreshed as the collector's refresher keeps it (at :55, so the last
unit is still settling and is read raw, as a dashboard at :55 sees it). Spend by role x tier x model
over the last 30 days is timed with 100,000 spans in the open hour, then with 1,000,000: the ratio
is the line (<= 1.5). Each tree (this one and `--base`, a git revision) builds the same store from
the same seed in a process of its own (chdb is one engine per process) and is timed there.

    python bench/open_hour.py [--base REV] [--history N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def worker(path: str, history: int, days: int, runs: int, seed: int = 7) -> dict:
    """Build the store at `path` with the importable `tierscope`, time the read at 100k and 1M."""
    import numpy as np
    from query import _model_prices, store_chunk

    from tierscope.collector.read import api
    from tierscope.collector.store import rollup
    from tierscope.collector.store.clickhouse import Store

    store = Store(f"chdb:{path}")
    store.migrate()
    rng = np.random.default_rng(seed)
    prices = _model_prices()
    top = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    now = top + timedelta(minutes=55)
    now_us = time.time_ns() // 1000
    top_ns = int(top.timestamp()) * 10**9
    begin = top_ns - days * 86_400 * 10**9
    chunk = 1_000_000
    pieces = max(1, -(-history // chunk))
    for k in range(pieces):
        n = min(chunk, history - k * chunk)
        table, events = store_chunk(rng, n, begin + k * (top_ns - begin) // pieces, (top_ns - begin) // pieces,
                                    prices, now_us)
        store.insert("llm_spans", table)
        store.insert("quality_events", events)
    store.command("OPTIMIZE TABLE llm_spans FINAL")
    store.command("OPTIMIZE TABLE quality_events FINAL")
    t0 = time.monotonic()
    rollup.refresh(store, now=now)
    history_refresh_s = time.monotonic() - t0
    q = {"since": (now - timedelta(days=30)).isoformat(), "until": now.isoformat(), "by": "role,tier,model"}
    out: dict = {"history": history, "history_refresh_s": round(history_refresh_s, 2), "open_hour": []}
    inserted = 0
    for target in (100_000, 1_000_000):
        while inserted < target:  # parts of 25,000 (a few seconds of a busy writer's batches)
            n = min(25_000, target - inserted)
            table, events = store_chunk(rng, n, top_ns, 55 * 60 * 10**9, prices, now_us)
            store.insert("llm_spans", table)
            store.insert("quality_events", events)
            inserted += n
        t0 = time.monotonic()
        rollup.refresh(store, now=now)  # what the refresher has done by :55
        refresh_s = time.monotonic() - t0
        api.spend(store, q, "default")  # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            body = api.spend(store, q, "default")
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        out["open_hour"].append({"spans": target, "refresh_s": round(refresh_s, 2),
                                 "p50_ms": round(statistics.median(times), 1),
                                 "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
                                 "total_spans": body["total"]["spans"], "total_usd": body["total"]["cost_usd"]})
    store.close()
    return out


def run_tree(label: str, pkg_parent: str | None, history: int, days: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="tierscope-open-hour-") as tmp:
        prelude = f"sys.path.insert(0, {pkg_parent!r}); " if pkg_parent else ""
        code = ("import sys; " + prelude + f"sys.path.insert(0, {str(HERE)!r}); import json, open_hour; "
                f"print(json.dumps(open_hour.worker({tmp + '/store'!r}, {history}, {days}, {runs})))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"{label}: {done.stderr[-2000:]}")
        return {"tree": label, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="8a48c1c", help="git revision measured beside this tree ('' for none)")
    parser.add_argument("--history", type=int, default=2_000_000, help="spans before the open hour")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=15)
    a = parser.parse_args()
    from ingest_compare import base_package

    load = os.getloadavg()[0]
    results = []
    if a.base:
        with base_package(a.base) as parent:
            results.append(run_tree(a.base, parent, a.history, a.days, a.runs))
    results.append(run_tree("this tree", None, a.history, a.days, a.runs))
    print(f"load before: {load:.2f}, after: {os.getloadavg()[0]:.2f}")
    for r in results:
        (small, big) = r["open_hour"]
        print(f"{r['tree']}: history {r['history']:,} spans (rollup filled in {r['history_refresh_s']} s); "
              f"spend by role x tier x model, 30 days, p50 / p95: 100k in the open hour {small['p50_ms']} / "
              f"{small['p95_ms']} ms, 1M {big['p50_ms']} / {big['p95_ms']} ms -> x{big['p50_ms'] / small['p50_ms']:.2f}"
              f" (refresh at :55 took {small['refresh_s']} / {big['refresh_s']} s; totals {small['total_spans']:,} "
              f"${small['total_usd']} / {big['total_spans']:,} ${big['total_usd']})")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
