"""How often could any explorer meet issue 18's cost line? The recommender given the evidence of an
ideal one.

    .venv/bin/python bench/replay_bound.py [--seeds 0:64] [--share 0.5] [--confidence 0.8] [DIR]

The same split as ``replay_seeds.py`` (each file's first 70% online, its last 30% held back). Instead of
learning, each seed hands the unchanged recommender the evidence a perfectly focused explorer would
have gathered with bandit feedback: in every role, the online prompts split at random (the seed) between
the reference and the arm of the full-information hindsight policy (``--share`` of them to that arm), and
nothing on any other arm. The recommendation is then scored on the held-back prompts as in the sweep.

No learner that sees one model's answer per prompt gets better evidence for the difference between
the two arms that matter (an even split minimises the variance of a difference of two means), so the
share of seeds whose final policy meets the target at <= 0.40 of frontier cost here bounds what better
exploration alone can buy the sweep, at this ``--confidence``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from replay_seeds import COST_BAR, _default_dir, split_files
from tierscope.collector.recommender.bandit import RoutingBandit
from tierscope.collector.recommender.baselines import assignment_picks, frontier_model, hindsight_policy, outcome_of
from tierscope.collector.recommender.outcomes import interleave, load_outcomes
from tierscope.collector.recommender.replay import _role_specs
from tierscope.collector.recommender.types import BanditConfig


def one(train, held, target: float, share: float, confidence: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    frontier = frontier_model(train)
    specs = _role_specs(train, frontier)
    complete = train.take(train.complete)
    policy = hindsight_policy(complete, frontier, target)
    bandit = RoutingBandit(specs, BanditConfig(quality_target=target, confidence=confidence))
    observed = train.observed
    for spec in specs:
        rows = np.flatnonzero(train.roles == spec.role)
        rows = rows[rng.permutation(rows.size)]
        arm = policy[spec.role]
        to_arm = rng.random(rows.size) < (share if arm != frontier else 0.0)
        for model, picked in ((arm, rows[to_arm]), (frontier, rows[~to_arm])):
            k = train.models.index(model)
            picked = picked[observed[picked, k]]
            bandit.load(spec.role, model, n_calls=picked.size, n_quality=picked.size,
                        quality_sum=float(train.quality[picked, k].sum()), cost_sum=float(train.cost[picked, k].sum()))
    horizon = [float((held.roles == spec.role).sum()) for spec in specs]
    recommendation = bandit.recommend(rng, horizon)
    scored = held.take(held.complete)
    always = outcome_of(scored, assignment_picks(scored, {}, frontier))
    final = outcome_of(scored, assignment_picks(scored, recommendation.as_mapping(), frontier))
    quality, cost = final.mean_quality / always.mean_quality, float(final.cost_usd / always.cost_usd)
    return {"seed": seed, "policy": recommendation.as_mapping(), "hindsight": policy, "quality_ratio": quality,
            "cost_ratio": cost, "claimed": recommendation.target_probability, "met": quality >= target}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=_default_dir())
    parser.add_argument("--seeds", default="0:64", help="start:stop (stop excluded)")
    parser.add_argument("--quality-target", type=float, default=0.95)
    parser.add_argument("--holdout", type=float, default=0.3)
    parser.add_argument("--share", type=float, default=0.5, help="share of a role's online prompts on the hindsight arm")
    parser.add_argument("--confidence", type=float, default=BanditConfig.confidence)
    options = parser.parse_args(argv)
    paths = sorted(options.dir.glob("*.csv"))
    start, stop = (int(x) for x in options.seeds.split(":"))
    with tempfile.TemporaryDirectory() as tmp:
        train_paths, held_paths = split_files(paths, options.holdout, Path(tmp), None)
        train = interleave([load_outcomes(p) for p in train_paths])
        held = interleave([load_outcomes(p) for p in held_paths])
    runs = [one(train, held, options.quality_target, options.share, options.confidence, seed)
            for seed in range(start, stop)]
    n = len(runs)
    policies = Counter(json.dumps(r["policy"]) for r in runs)
    summary = {
        "seeds": n, "share": options.share, "confidence": options.confidence,
        "hindsight": runs[0]["hindsight"],
        "met_target": sum(r["met"] for r in runs),
        "met_target_at_cost": sum(r["met"] and r["cost_ratio"] <= COST_BAR for r in runs),
        "mean_claimed": round(sum(r["claimed"] for r in runs) / n, 4),
        "observed_rate": round(sum(r["met"] for r in runs) / n, 4),
        "policies": dict(policies.most_common()),
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
