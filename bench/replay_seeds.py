"""How seed-robust is the replay acceptance? Run `tierscope replay` over many seeds and count passes.

    .venv/bin/python bench/replay_seeds.py [--seeds 0:32] [--quality-target 0.95] [--jobs 1] [DIR]

DIR holds the RouterBench train files (default: shared/data/routerbench beside the checkout, else
/work/shared/data/routerbench). A seed passes when the final policy keeps >= 95% of always-frontier
quality at <= 40% of its cost (issue 4's acceptance). Prints one line per seed and a JSON summary.

Measured 2026-11-23 (seeds 0-31; 1.1-2.5 s a seed on a quiet core, up to 8 s at load 7): 16 of 32
pass, seeds 1, 2, 3, 4, 11, 12, 14, 15, 16, 17, 21, 23, 24, 25, 26, 27 fail. Why, measured:

- Only two fixed assignments meet both bars: arc->Yi-34B, mbpp->gpt-3.5 (or claude-instant),
  winogrande->gpt-4 (96.3% / 32.9%; 95.7% / 33.3%). The next cheaper ones miss the quality line by
  0.2-0.5 points (mbpp->mixtral 94.8%, code-llama 94.5%), the next dearer the cost line (mbpp->gpt-4 57%).
- The final policy is already chosen on posterior means (exact Pareto front, then the cheapest that
  meets the target in >= 50% of 256 posterior draws), not from one Thompson draw. What fails is the
  estimate: after one bandit pass the posterior SD of a policy's quality ratio is ~2 points against a
  1.3-point margin. Of the 16 failing seeds, 6 left mbpp's gpt-3.5 under the 30-observation minimum
  (so mixtral or code-llama is taken), 6 estimated the right policy under 95% (so mbpp->gpt-4 or
  claude-v1 is bought), 4 chose wrongly on arc or winogrande.
- Even with the true means and 100 observations per arm the recommender gives the right policy a 69%
  chance of meeting the target. With oracle knowledge of the relevant arms and uniform sampling over
  them: 58/64 seeds pass (two arms per role), 45/64 (mbpp's five plausible arms).
- Exploration and selection variants tried, none better than noise (16/32 +- 3): control share 0.2/0.3,
  tempered, top-two and whole-problem Thompson sampling, balancing plausible arms, evidence-seeking for
  arms under the minimum, concentrating on the current choice, confidence-bound elimination,
  confidence 0.3-0.9, certainty premium, min evidence 10/50, convex-hull-only candidates.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tierscope.collector.recommender.replay import run_replay

QUALITY_BAR = 0.95
COST_BAR = 0.40


def _default_dir() -> Path:
    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "routerbench"
    return beside if beside.is_dir() else Path("/work/shared/data/routerbench")


def one(args: tuple[list[Path], float, int]) -> dict:
    paths, target, seed = args
    started = time.perf_counter()
    report = run_replay(paths, None, quality_target=target, seed=seed)
    final = report["final"]
    return {
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 2),
        "quality_ratio": final["quality_ratio_vs_frontier"],
        "cost_ratio": final["cost_ratio_vs_frontier"],
        "passed": final["quality_ratio_vs_frontier"] >= QUALITY_BAR and final["cost_ratio_vs_frontier"] <= COST_BAR,
        "policy": report["policy"],
        "target_probability": report["recommendation"]["target_probability"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=_default_dir())
    parser.add_argument("--seeds", default="0:32", help="start:stop (stop excluded)")
    parser.add_argument("--quality-target", type=float, default=0.95)
    parser.add_argument("--jobs", type=int, default=1)
    options = parser.parse_args()
    paths = sorted(options.dir.glob("*.csv"))
    if not paths:
        print(f"no CSV files in {options.dir}", file=sys.stderr)
        return 1
    start, stop = (int(x) for x in options.seeds.split(":"))
    work = [(paths, options.quality_target, seed) for seed in range(start, stop)]
    with ProcessPoolExecutor(options.jobs) as pool:
        results = list(pool.map(one, work))
    for r in results:
        print(f"seed {r['seed']:3d} {'pass' if r['passed'] else 'FAIL'} quality {r['quality_ratio']:.4f} "
              f"cost {r['cost_ratio']:.4f} {r['seconds']:5.2f}s {json.dumps(r['policy'])}")
    summary = {
        "passed": sum(r["passed"] for r in results),
        "seeds": len(results),
        "max_seconds": max(r["seconds"] for r in results),
        "failed_seeds": [r["seed"] for r in results if not r["passed"]],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
