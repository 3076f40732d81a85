"""`make soak`: a long run at a steady rate (half of measured capacity by default), checking that the
collector's memory stays flat after warm-up and that nothing is lost. Prints a table and writes it to
bench/results/soak-*.md.

By default the spans are live traffic: stamped in the 30 s before they are sent, as agents' exporters
send them, so they land in the open hour. `--backfill` sends one day in the past instead, in time
order (a day in 10 minutes: every few seconds an ended hour changes again), the pattern of an import
or a replay.

With `--across-hour-end` it waits until 5 minutes before the next hour starts, so that hour's end
and the refresher's one recompute of the ended hour (~2.5 minutes later) fall inside the measured
part of a 10-minute run: the heaviest thing the refresher does under live traffic.

    python bench/soak.py [--minutes 10] [--rate 5000] [--backfill] [--across-hour-end]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collector_process import CollectorProcess, status_kib  # noqa: E402
from ingest import _pss_kib, tree_pss_mib  # noqa: E402
from workload import live_request_bodies, request_bodies  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=16_000,
                        help="spans/s; the default is about half of the ingest rate measured by `make bench`")
    parser.add_argument("--warmup", type=float, default=0.2, help="share of the run before RSS counts")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="collector environment, e.g. TIERSCOPE_ROLLUP_INTERVAL_S=0 (repeatable)")
    parser.add_argument("--backfill", action="store_true",
                        help="send one past day in time order instead of live spans (see the module docstring)")
    parser.add_argument("--across-hour-end", action="store_true",
                        help="start 5 min before the next hour, so its end is inside the run (see the module docstring)")
    args = parser.parse_args()
    batch = 500
    seconds = args.minutes * 60
    total = int(args.rate * seconds) // batch * batch
    pattern = ("one past day, sent in time order (--backfill)" if args.backfill
               else "live: stamped in the 30 s before sending")
    print(f"soak: {total:,} spans at {args.rate:,}/s for {args.minutes:g} min, {pattern}; building bodies...",
          flush=True)
    bodies = (request_bodies(total, batch=batch, seed=11) if args.backfill
              else live_request_bodies(total, batch=batch, seed=11))
    if args.across_hour_end:
        now = datetime.now(UTC)
        start = now.replace(minute=55, second=0, microsecond=0)
        if now > start + timedelta(seconds=30):
            start += timedelta(hours=1)
        print(f"soak: waiting until {start:%H:%M:%S} UTC (5 min before the hour; --across-hour-end)", flush=True)
        time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds() - 20))  # the collector starts in ~20 s
    collector = CollectorProcess(env=dict(kv.split("=", 1) for kv in args.env)).start()
    samples: list[tuple[float, float]] = []
    main_pss: list[float] = []  # the collector process alone (the embedded engine lives there), MiB
    engine: list[float] = []  # what the engine tracks as in use (MemoryTracking), MiB
    load: list[float] = []  # the machine's 1-minute load average beside each sample (it is shared)
    backlog: list[tuple[int, float]] = []  # ingest log: unstored bytes and the oldest span's age, per sample
    # per sample: (seconds, spans in the store, fill statements the refresher began) -> the store's rate per window
    written: list[tuple[float, int, int]] = []
    sent = ok = 0
    warm = peak_reset = False  # VmHWM (peak RSS) is reset when warm-up ends: the peak of the steady part
    client = httpx.Client(timeout=60)
    began = time.monotonic()
    try:
        for i, body in enumerate(bodies):
            due = began + i * batch / args.rate
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            while True:
                r = client.post(f"{collector.url}/v1/traces", content=body,
                                headers={"content-type": "application/x-protobuf"})
                if r.status_code == 200:
                    break
                time.sleep(float(r.headers.get("retry-after", "1")))  # 429/503: the client retries
            sent += batch
            ok += 1
            elapsed = time.monotonic() - began
            if not warm and elapsed >= seconds * args.warmup:
                warm, peak_reset = True, reset_peak_rss(collector.pid)
                warm_at, refreshed_at_warm = datetime.now(UTC), collector.get("/api/v1/stats")["rollup_hours_refreshed"]
            if not samples or elapsed - samples[-1][0] >= 10:
                samples.append((elapsed, tree_pss_mib(collector.pid)))  # the workers' memory counts too
                main_pss.append(_pss_kib(collector.pid) / 1024)
                load.append(os.getloadavg()[0])
                stats = collector.get("/api/v1/stats", wait="0")  # no read barrier: the backlog as it is
                backlog.append((stats["log_bytes"], stats["log_oldest_age_s"]))
                written.append((elapsed, stats["spans_written"], stats["rollup_statements"] or 0))
                engine.append((stats["store_memory_bytes"] or 0) / 2**20)
                print(f"  {elapsed:6.0f}s  {sent:>10,} spans  PSS {samples[-1][1]:7.1f} MiB (collector {main_pss[-1]:6.1f}, engine {engine[-1]:6.1f})  load {load[-1]:.1f}  "
                      f"log {backlog[-1][0] / 2**20:.1f} MiB, oldest {backlog[-1][1]:.1f} s", flush=True)
        wall = time.monotonic() - began
        peak = status_kib(collector.pid, "VmHWM") / 1024
        stored = collector.get("/api/v1/spend")["total"]["spans"]
        refreshed = collector.get("/api/v1/stats")["rollup_hours_refreshed"]
        ended_at = datetime.now(UTC)
    finally:
        collector.stop()
    steady = [rss for t, rss in samples if t >= seconds * args.warmup]
    main_steady = [m for (t, _), m in zip(samples, main_pss) if t >= seconds * args.warmup]
    engine_steady = [m for (t, _), m in zip(samples, engine) if t >= seconds * args.warmup]
    # The store's rate in each window between samples after warm-up, and in the windows where the refresher
    # began a fill statement (the #15 bar: never below 80% of the mean there).
    windows = [((n1 - n0) / (t1 - t0), h1 > h0) for (t0, n0, h0), (t1, n1, h1) in zip(written, written[1:])
               if t0 >= seconds * args.warmup and t1 > t0]
    rates = [r for r, _ in windows] or [0.0]
    during = [r for r, busy in windows if busy]
    hour_end = ended_at.replace(minute=0, second=0, microsecond=0)
    mean = sum(steady) / len(steady)
    spread = max(abs(r - mean) / mean for r in steady)
    rows = [("span times", pattern),
            ("spans sent / stored / lost", f"{sent:,} / {stored:,} / {sent - stored:,}"),
            ("achieved rate", f"{sent / wall:,.0f} spans/s over {wall:,.0f} s"),
            ("measured window (after warm-up), UTC", f"{warm_at:%H:%M:%S} - {ended_at:%H:%M:%S}, "
                                                     + (f"across the {hour_end:%H:%M} hour's end" if hour_end > warm_at
                                                        else "no hour's end")),
            ("hours the rollup refresher recomputed in that window",
             "refresher off" if refreshed is None else f"{refreshed - (refreshed_at_warm or 0):,}"),
            ("memory after warm-up, collector + workers (PSS): min / mean / max", f"{min(steady):.0f} / {mean:.0f} / {max(steady):.0f} MiB"),
            ("the collector process alone (PSS): min / mean / max",
             f"{min(main_steady):.0f} / {_mean(main_steady):.0f} / {max(main_steady):.0f} MiB"),
            ("the engine's tracked memory (MemoryTracking): min / mean / max",
             f"{min(engine_steady):.0f} / {_mean(engine_steady):.0f} / {max(engine_steady):.0f} MiB"),
            ("peak RSS of the collector process after warm-up (VmHWM, between samples too)", f"{peak:.0f} MiB" if peak_reset else "-"),
            ("memory spread around the mean (target ±10%)", f"±{spread:.1%} — {'flat' if spread <= 0.10 else 'NOT flat'}"),
            ("memory mean, first / second half after warm-up", f"{_mean(steady[:len(steady) // 2]):.0f} / "
                                                            f"{_mean(steady[len(steady) // 2:]):.0f} MiB"),
            ("spans stored per s in ~10 s windows after warm-up: mean / min",
             f"{_mean(rates):,.0f} / {min(rates):,.0f}"),
            ("lowest window while the refresher was filling the rollup (target ≥ 80% of the mean)",
             f"{min(during):,.0f} = {min(during) / _mean(rates):.0%} of the mean" if during else "no recompute"),
            ("ingest log backlog, max bytes / max oldest age (sampled every ~10 s)",
             f"{max(b for b, _ in backlog) / 2**20:.1f} MiB / {max(a for _, a in backlog):.1f} s"),
            ("machine load (1-min average), min / mean / max", f"{min(load):.1f} / {_mean(load):.1f} / {max(load):.1f} "
                                                               f"on {os.cpu_count()} cores")]
    title = f"# tierscope soak — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.rate:,}/s for {args.minutes:g} min"
    table = (title + (f" ({', '.join(args.env)})" if args.env else "") + "\n\n| measure | value |\n| --- | --- |\n"
             + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"
             + f"\nPSS of the collector + workers every ~10 s (MiB): {', '.join(f'{rss:.0f}' for _, rss in samples)}\n")
    print("\n" + table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"soak-{datetime.now(UTC):%Y%m%d-%H%M%S}.md").write_text(table)
    return 0 if sent == stored and spread <= 0.10 else 1


def reset_peak_rss(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux clear_refs 5); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


if __name__ == "__main__":
    sys.exit(main())
