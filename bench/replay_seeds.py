"""Seed sweep of the routing replay on held-back prompts: safety while learning, the promise kept on new
prompts, and calibration of the claimed chance -- for this checkout and, with --before, an older commit.

    .venv/bin/python bench/replay_seeds.py [--seeds 0:32] [--quality-target 0.95] [--holdout 0.3]
                                           [--random-holdout] [--jobs 2] [--before REV] [DIR]

DIR holds the RouterBench train files (default: shared/data/routerbench beside the checkout, else
/work/shared/data/routerbench). Each file is split once: its first 70% is the online stream, its last
30% (or, with --random-holdout, a random 30% drawn per seed) the new prompts the final policy is
scored on. Both commits replay the same split files through ``run_replay(train, eval, ...)``, so the
comparison is like for like; --before REV runs REV's code (from ``git archive``) in a subprocess.

Per seed: the online quality ratio while learning (vs always-frontier on the same prompts), the final
policy's quality and cost ratios on the held-back prompts, the chance of meeting the target it claimed,
and whether it met it. Summary: the acceptance lines of issue 18 (online >= 0.93 in every seed; final
meets the target at <= 0.40 cost in >= 90% of seeds; |claimed - observed| <= 0.10).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from tierscope.collector.recommender.replay import run_replay  # --before: REV's, via PYTHONPATH

COST_BAR = 0.40
ONLINE_BAR = 0.93
CALIBRATION_BAR = 0.10
_LAYOUT = {"core": (), "collector": ("collector",), "instrumentation": ("instrumentation",),
           "dashboard": ("dashboard",), "sql": ("sql",)}


def _default_dir() -> Path:
    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "routerbench"
    return beside if beside.is_dir() else Path("/work/shared/data/routerbench")


def split_files(paths: list[Path], holdout: float, out: Path, seed: int | None) -> tuple[list[Path], list[Path]]:
    """Write each file's online part and held-back part as CSVs under ``out``; file order is kept."""
    out.mkdir(parents=True, exist_ok=True)
    train, held = [], []
    rng = None if seed is None else np.random.default_rng(seed)
    for path in paths:
        frame = pl.read_csv(path, infer_schema_length=0)
        count = int(round(holdout * frame.height))
        mask = np.zeros(frame.height, dtype=bool)
        mask[rng.choice(frame.height, size=count, replace=False) if rng is not None else slice(frame.height - count, None)] = True
        for rows, bucket, name in ((~mask, train, "train"), (mask, held, "held")):
            target = out / f"{path.stem}.{name}.csv"
            frame.filter(pl.Series(rows)).write_csv(target)
            bucket.append(target)
    return train, held


def one(job: tuple[list[Path], list[Path], float, int]) -> dict:
    """One seed through ``run_replay`` (the API both commits share)."""
    train, held, target, seed = job
    started = time.perf_counter()
    report = run_replay(train, held, quality_target=target, seed=seed)
    final = report["final"]
    return {
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 2),
        "online_quality_ratio": report["online"]["quality_ratio_vs_frontier"],
        "final_quality_ratio": final["quality_ratio_vs_frontier"],
        "final_cost_ratio": final["cost_ratio_vs_frontier"],
        "claimed": report["recommendation"]["target_probability"],
        "met": final["quality_ratio_vs_frontier"] >= target,
        "policy": report["policy"],
    }


def summarize(runs: list[dict]) -> dict:
    n = len(runs)
    claimed = sum(r["claimed"] for r in runs) / n
    observed = sum(r["met"] for r in runs) / n
    kept = sum(r["met"] and r["final_cost_ratio"] <= COST_BAR for r in runs)
    online = [r["online_quality_ratio"] for r in runs]
    return {
        "seeds": n,
        "online_min": round(min(online), 4),
        "online_mean": round(sum(online) / n, 4),
        "online_at_least_0.93": sum(q >= ONLINE_BAR for q in online),
        "met_target": sum(r["met"] for r in runs),
        "met_target_at_cost": kept,
        "final_cost_median": round(float(np.median([r["final_cost_ratio"] for r in runs])), 4),
        "mean_claimed": round(claimed, 4),
        "observed_rate": round(observed, 4),
        "calibration_gap": round(claimed - observed, 4),
        "brier": round(sum((r["claimed"] - r["met"]) ** 2 for r in runs) / n, 4),
        "max_seconds": max(r["seconds"] for r in runs),
        "acceptance": {
            "online_every_seed": min(online) >= ONLINE_BAR,
            "target_at_cost_90pct": kept >= 0.9 * n,
            "calibrated_10pts": abs(claimed - observed) <= CALIBRATION_BAR,
        },
    }


def sweep(options: argparse.Namespace, work: Path) -> dict:
    """This interpreter's checkout over every seed: per-seed rows and the summary."""
    paths = sorted(options.dir.glob("*.csv"))
    if not paths:
        raise SystemExit(f"no CSV files in {options.dir}")
    start, stop = (int(x) for x in options.seeds.split(":"))
    jobs = []
    for seed in range(start, stop):
        split_seed = seed if options.random_holdout else None
        folder = work / (f"split-{seed}" if options.random_holdout else "split")
        if options.random_holdout or seed == start:
            train, held = split_files(paths, options.holdout, folder, split_seed)
        jobs.append((train, held, options.quality_target, seed))
    with ProcessPoolExecutor(options.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:  # polars + fork hangs
        runs = list(pool.map(one, jobs))
    return {"runs": runs, "summary": summarize(runs)}


def checkout_of(rev: str, into: Path) -> Path:
    """``git archive REV`` laid out as the installed package (core/ is tierscope, collector/ is
    tierscope.collector, ...); returns the directory to put first on PYTHONPATH."""
    root = Path(__file__).resolve().parents[1]
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "src.tar"
    subprocess.run(["git", "-C", str(root), "archive", "-o", str(archive), rev], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")
    package = into / "path" / "tierscope"
    package.parent.mkdir(parents=True)
    package.symlink_to(into / "src" / "core")
    for folder, inside in _LAYOUT.items():
        if inside:
            (into / "src" / "core" / inside[0]).symlink_to(into / "src" / folder)
    return into / "path"


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=_default_dir())
    parser.add_argument("--seeds", default="0:32", help="start:stop (stop excluded)")
    parser.add_argument("--quality-target", type=float, default=0.95)
    parser.add_argument("--holdout", type=float, default=0.3)
    parser.add_argument("--random-holdout", action="store_true", help="a random held-back part per seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--before", metavar="REV", help="also sweep this commit's code, for a before/after table")
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)  # the --before subprocess
    return parser.parse_args(argv)


def _before(options: argparse.Namespace, work: Path) -> dict:
    path = checkout_of(options.before, work / "before")
    argv = [sys.executable, __file__, str(options.dir), "--seeds", options.seeds, "--quality-target",
            str(options.quality_target), "--holdout", str(options.holdout), "--jobs", str(options.jobs), "--json-only"]
    if options.random_holdout:
        argv.append("--random-holdout")
    env = {**os.environ, "PYTHONPATH": str(path)}
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout)


def _print(label: str, result: dict) -> None:
    for r in result["runs"]:
        print(f"{label} seed {r['seed']:3d} online {r['online_quality_ratio']:.4f} final {r['final_quality_ratio']:.4f}"
              f" @ {r['final_cost_ratio']:.4f} claimed {r['claimed']:.2f} {'met' if r['met'] else 'MISSED'}"
              f" {r['seconds']:5.2f}s {json.dumps(r['policy'])}")
    print(f"{label} summary {json.dumps(result['summary'])}")


def main(argv: list[str] | None = None) -> int:
    options = _args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        after = sweep(options, work)
        if options.json_only:
            print(json.dumps(after))
            return 0
        before = _before(options, work) if options.before else None
    if before:
        _print("before", before)
    _print("after", after)
    if before:
        keys = ("online_min", "online_at_least_0.93", "met_target_at_cost", "met_target", "final_cost_median",
                "mean_claimed", "observed_rate", "calibration_gap", "brier", "max_seconds")
        print(f"\n| | {' | '.join(keys)} |\n|---|{'---|' * len(keys)}")
        for label, result in (("before", before), ("after", after)):
            print(f"| {label} | {' | '.join(str(result['summary'][k]) for k in keys)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
