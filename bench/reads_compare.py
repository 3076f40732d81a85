"""The read API at 10 M spans, this tree beside a base commit, on one store, in one run.

The store is built once by this tree (bench/query.py: 10 M spans over 90 days, merged, the rollup
filled, a fresh hour of 1 M spans refreshed to :55 so its last unit is read raw). Then each tree
serves it in turn from a real collector process (refresher and alerts off), twice, alternating
(base, this, base, this), and every endpoint the dashboard calls is timed through HTTP as section 4
of `make bench` does: p50 / p95 over the runs of both passes; on the second pass, the dashboard's
pages in chromium too (bench/pages.py). A collector creates its own views when
it starts, so each tree reads through its own SQL; the tables are this tree's (the base commit
reads them through its own views: same columns).

    python bench/reads_compare.py [--base REV] [--store PATH] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="ca5e8a9", help="git revision served beside this tree")
    parser.add_argument("--store", help="an existing store built by bench/query.py (else one is built, then removed)")
    parser.add_argument("--trace-id", default="", help="with --store: a trace of its fresh hour")
    parser.add_argument("--runs", type=int, default=8, help="timed runs per endpoint and pass (after one warm-up)")
    a = parser.parse_args()
    import pages
    import query
    from collector_process import CollectorProcess
    from ingest_compare import base_tree

    loads = [os.getloadavg()[0]]
    tmp = tempfile.TemporaryDirectory(prefix="tierscope-reads-")
    path, trace_id = a.store, a.trace_id
    if not path:
        path = f"{tmp.name}/store"
        built = query.build_store(path)
        trace_id = built.trace_id
        print(f"store built in {built.seconds:.0f} s: {built.spans:,} spans, rollup {built.rollup_rows:,} rows",
              file=sys.stderr)
    times: dict[tuple[str, str], list[float]] = {}
    page_ms: dict[tuple[str, str], tuple[float, float]] = {}
    with base_tree(a.base) as base_command:
        for i, (label, command) in enumerate(((a.base, base_command), ("this tree", None)) * 2):
            env = {"TIERSCOPE_ALERT_INTERVAL_S": "0", "TIERSCOPE_ROLLUP_INTERVAL_S": "0"}
            with CollectorProcess(store=path, env=env, command=command) as collector:
                for t in query.time_endpoints(collector, trace_id, runs=a.runs, budget_s=600):
                    times.setdefault((t.label, label), []).extend(t.samples_ms)
                if i >= 2 and Path(pages.CHROMIUM).exists():  # the dashboard once per tree, on the second pass
                    for p in pages.time_pages(collector.url):
                        page_ms[(p.page, label)] = (p.cold_ms, p.warm_ms)
            loads.append(os.getloadavg()[0])
            print(f"{label}: pass done, load {loads[-1]:.2f}", file=sys.stderr)
    tmp.cleanup()
    print(f"# reads at 10 M spans, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average "
          f"{' -> '.join(f'{x:.2f}' for x in loads)}\n")
    print(f"| endpoint | {a.base} p50 / p95 ms | this tree p50 / p95 ms |\n| --- | --- | --- |")
    labels = list(dict.fromkeys(label for label, _ in times))
    for label in labels:
        cells = []
        for tree in (a.base, "this tree"):
            ms = np.array(times.get((label, tree), [np.nan]))
            cells.append(f"{np.percentile(ms, 50):,.0f} / {np.percentile(ms, 95):,.0f} (n={len(ms)})")
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    if page_ms:
        print(f"\n| dashboard page, cold / warm | {a.base} ms | this tree ms |\n| --- | --- | --- |")
        for page in dict.fromkeys(p for p, _ in page_ms):
            cells = [page_ms.get((page, tree), (np.nan, np.nan)) for tree in (a.base, "this tree")]
            print(f"| {page} | " + " | ".join(f"{c:,.0f} / {w:,.0f}" for c, w in cells) + " |")
    print(json.dumps({f"{label} | {tree}": [round(x, 1) for x in v] for (label, tree), v in times.items()}))


if __name__ == "__main__":
    main()
