"""Offline replay of the routing recommender over RouterBench-style outcome matrices.

The recommender routes each prompt online with bandit feedback: for every prompt (files
interleaved round-robin by row, so all roles are active at once) it picks one model among those
with an outcome on that prompt and sees only that model's quality and cost. At the end its
recommended role -> model policy is scored on the evaluation files (or the same files). Both are
compared with always-frontier (the model with the highest total cost), the best fixed per-role
assignment in hindsight and the per-prompt oracle, on the prompts where every arm of the role has
an outcome, so that all are scored on the same prompts.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from tierscope.collector.recommender.bandit import RoutingBandit
from tierscope.collector.recommender.calibration import calibration
from tierscope.collector.recommender.baselines import (
    Outcome,
    assignment_picks,
    frontier_model,
    hindsight_policy,
    oracle_picks,
    outcome_of,
)
from tierscope.collector.recommender.outcomes import OutcomeMatrix, hold_back, interleave, load_outcomes
from tierscope.collector.recommender.types import ArmSpec, BanditConfig, Recommendation, RoleSpec
from tierscope.terms import DEFAULT_QUALITY_TARGET

__all__ = ["replay_table", "run_replay", "run_seeds", "seeds_table"]

INTERLEAVING = "round-robin by row across files, in the order given"


def run_replay(
    paths: list[Path],
    eval_paths: list[Path] | None = None,
    quality_target: float = DEFAULT_QUALITY_TARGET,
    seed: int = 0,
    *,
    window: int | None = None,
    min_evidence: int = BanditConfig.min_evidence,
    holdout: float | None = None,
    holdout_seed: int | None = None,
    safety: float | None = BanditConfig.safety,
    **knobs: float,
) -> dict:
    """Replay the recommender online over ``paths`` and score its final policy; a JSON-ready dict.

    Keys: ``policy`` (role -> model); ``online`` (cost, quality and their ratios to each
    baseline while learning, plus pick counts); ``final`` (the policy scored on ``eval_paths`` or
    the same files); ``baselines`` (frontier, hindsight -- with its policy -- and oracle on the
    evaluation prompts); ``recommendation`` (per-role details); ``settings``. Money is a string
    holding the exact ``Decimal`` sum of the cost cells. Raises ``ValueError`` on bad files.

    ``holdout`` (a fraction, e.g. 0.3) holds back part of every file as new prompts for the
    final score instead of ``eval_paths``: the tail of each file, or with ``holdout_seed`` a
    random subset of that size (file order kept for the rest). ``final.met_target`` then says
    whether the policy kept the promise that ``recommendation.target_probability`` stated.
    """
    train, evaluation = _split(paths, eval_paths, holdout, holdout_seed)
    frontier = frontier_model(train)
    config = BanditConfig(quality_target=quality_target, window=window, min_evidence=min_evidence, safety=safety,
                          **knobs)
    specs = _role_specs(train, frontier)
    bandit = RoutingBandit(specs, config)
    rng = np.random.default_rng(seed)
    picks, walked = _walk(bandit, train, rng)
    horizon = [float((evaluation.roles == spec.role).sum()) for spec in specs]
    recommendation = bandit.recommend(rng, horizon)
    policy = recommendation.as_mapping()

    walked_rows = train.take(walked)
    online_all = outcome_of(walked_rows, picks)
    compared = walked_rows.complete
    online = outcome_of(walked_rows.take(compared), picks[compared])
    train_baselines, _ = _baselines(train.take(train.complete), frontier, quality_target)
    eval_set = evaluation.take(evaluation.complete)
    eval_baselines, hindsight = _baselines(eval_set, frontier, quality_target)
    final = outcome_of(eval_set, assignment_picks(eval_set, policy, frontier))
    report = {
        "policy": policy,
        "online": {
            "walked_prompts": online_all.prompts,
            "skipped_prompts": int((~walked).sum()),
            "total_cost_usd": str(online_all.cost_usd),
            "total_mean_quality": round(online_all.mean_quality, 6),
            **online.as_dict(),
            **_ratios(online, train_baselines),
            "picks": _pick_counts(walked_rows, picks),
        },
        "final": {**final.as_dict(), **_ratios(final, eval_baselines)},
        "calibration": _promise(recommendation, final, eval_baselines["frontier"], quality_target),
        "baselines": _describe(eval_baselines),
        "recommendation": _recommendation_details(recommendation),
        "settings": {
            "files": [path.name for path in paths],
            "eval_files": [path.name for path in eval_paths] if eval_paths else None,
            "holdout": holdout,
            "holdout_seed": holdout_seed,
            "safety": safety,
            "interleaving": INTERLEAVING,
            "frontier_model": frontier,
            "quality_target": quality_target,
            "seed": seed,
            "window": window,
            "min_evidence": min_evidence,
            "control_share": config.control_share,
            "confidence": config.confidence,
            "certainty_premium": config.certainty_premium,
        },
    }
    report["baselines"]["hindsight"]["policy"] = hindsight
    if eval_paths:
        report["online"]["baselines"] = _describe(train_baselines)
    return report


def run_seeds(paths: list[Path], eval_paths: list[Path] | None, seeds: range, **options: Any) -> dict:
    """``run_replay`` once per seed (``options`` passed on); each run's key figures and the calibration.

    With ``holdout_random`` true, each seed also holds back its own random part (``holdout_seed``
    = the seed), so the claim is tested on different new prompts every time.
    """
    randomly = options.pop("holdout_random", False)
    runs = []
    for seed in seeds:
        report = run_replay(paths, eval_paths, seed=seed, holdout_seed=seed if randomly else None, **options)
        runs.append({
            "seed": seed,
            "policy": report["policy"],
            "online_quality_ratio": report["online"]["quality_ratio_vs_frontier"],
            "online_cost_ratio": report["online"]["cost_ratio_vs_frontier"],
            "final_quality_ratio": report["final"]["quality_ratio_vs_frontier"],
            "final_cost_ratio": report["final"]["cost_ratio_vs_frontier"],
            **report["calibration"],
        })
    summary = calibration([r["claimed_probability"] for r in runs], [r["met_target"] for r in runs])
    return {"runs": runs, "calibration": summary}


def seeds_table(sweep: dict) -> str:
    """The seed sweep as plain text: one line per seed, then the calibration."""
    lines = [f"{'seed':>4} {'online q':>9} {'final q':>8} {'final c':>8} {'claimed':>8} met"]
    for r in sweep["runs"]:
        lines.append(f"{r['seed']:>4} {r['online_quality_ratio']:>9.4f} {r['final_quality_ratio']:>8.4f}"
                     f" {r['final_cost_ratio']:>8.4f} {r['claimed_probability']:>8.2f} {'yes' if r['met_target'] else 'no'}")
    c = sweep["calibration"]
    lines.append(f"calibration over {c['runs']} runs: claimed {c['mean_claimed']:.3f}, observed {c['observed_rate']:.3f}"
                 f" (gap {c['gap']:+.3f}), Brier {c['brier']:.3f}")
    for band in c["bands"]:
        if band["runs"]:
            lines.append(f"  claimed {band['claimed_from']:.2f}-{band['claimed_to']:.2f}: {band['met']} of {band['runs']} met")
    return "\n".join(lines)


def _split(
    paths: list[Path], eval_paths: list[Path] | None, holdout: float | None, holdout_seed: int | None
) -> tuple[OutcomeMatrix, OutcomeMatrix]:
    """Training and evaluation matrices: the files as given, or each file split by ``holdout``."""
    matrices = [load_outcomes(path) for path in paths]
    if holdout is None:
        train = interleave(matrices)
        return train, interleave([load_outcomes(path) for path in eval_paths]) if eval_paths else train
    if eval_paths:
        raise ValueError("give either evaluation files or a holdout fraction, not both")
    if not 0.0 < holdout < 1.0:
        raise ValueError("holdout must be a fraction in (0, 1)")
    rng = None if holdout_seed is None else np.random.default_rng(holdout_seed)
    heads, tails = [], []
    for matrix in matrices:
        held = hold_back(len(matrix.roles), holdout, rng)
        heads.append(matrix.take(~held))
        tails.append(matrix.take(held))
    return interleave(heads), interleave(tails)


def _promise(recommendation: Recommendation, final: Outcome, frontier: Outcome, target: float) -> dict:
    """What the recommendation claimed (chance of meeting the target) and what happened."""
    ratio = final.mean_quality / frontier.mean_quality if frontier.mean_quality else float("nan")
    return {
        "claimed_probability": round(recommendation.target_probability, 6),
        "met_target": bool(ratio >= target),
        "quality_ratio": round(ratio, 6),
    }


def _role_specs(matrix: OutcomeMatrix, frontier: str) -> list[RoleSpec]:
    """One role per eval_name; its arms are the models with at least one outcome for it."""
    observed = matrix.observed
    calls = np.maximum(observed.sum(axis=0), 1)
    mean_cost = np.where(observed, matrix.cost, 0.0).sum(axis=0) / calls
    top = mean_cost[matrix.models.index(frontier)]
    tiers = ["frontier" if c >= 0.5 * top else "mid" if c >= 0.05 * top else "small" for c in mean_cost]
    specs = []
    for role in matrix.role_names:
        seen = observed[matrix.roles == role].any(axis=0)
        if not seen[matrix.models.index(frontier)]:
            raise ValueError(f"role {role!r} has no outcome for the frontier model {frontier!r}")
        arms = tuple(ArmSpec(m, tiers[k]) for k, m in enumerate(matrix.models) if seen[k])
        specs.append(RoleSpec(role=role, arms=arms, reference=frontier))
    return specs


def _walk(
    bandit: RoutingBandit, matrix: OutcomeMatrix, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Route every prompt with bandit feedback; returns picks (walked rows) and the walked mask."""
    index = {model: k for k, model in enumerate(matrix.models)}
    observed = matrix.observed
    walked = observed.any(axis=1)
    picks = []
    for row in np.flatnonzero(walked):
        role = matrix.roles[row]
        available = [matrix.models[k] for k in np.flatnonzero(observed[row])]
        model = bandit.choose(role, rng, available)
        k = index[model]
        bandit.observe(role, model, cost=float(matrix.cost[row, k]), quality=float(matrix.quality[row, k]))
        picks.append(k)
    return np.array(picks, dtype=np.int64), walked


def _baselines(
    matrix: OutcomeMatrix, frontier: str, quality_target: float
) -> tuple[dict[str, Outcome], dict[str, str]]:
    """Frontier, hindsight and oracle outcomes on ``matrix`` (complete rows), and the hindsight policy."""
    always = np.full(len(matrix.roles), matrix.models.index(frontier), dtype=np.int64)
    hindsight = hindsight_policy(matrix, frontier, quality_target)
    outcomes = {
        "frontier": outcome_of(matrix, always),
        "hindsight": outcome_of(matrix, assignment_picks(matrix, hindsight, frontier)),
        "oracle": outcome_of(matrix, oracle_picks(matrix)),
    }
    return outcomes, hindsight


def _ratios(outcome: Outcome, baselines: dict[str, Outcome]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for name, baseline in baselines.items():
        ratios.update(outcome.ratios_to(baseline, name))
    return ratios


def _describe(baselines: dict[str, Outcome]) -> dict[str, dict]:
    frontier = baselines["frontier"]
    return {name: {**o.as_dict(), **o.ratios_to(frontier, "frontier")} for name, o in baselines.items()}


def _pick_counts(matrix: OutcomeMatrix, picks: np.ndarray) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {role: Counter() for role in matrix.role_names}
    for role, k in zip(matrix.roles.tolist(), picks.tolist()):
        counts[role][matrix.models[k]] += 1
    return {role: dict(sorted(c.items(), key=lambda item: (-item[1], item[0]))) for role, c in counts.items()}


def _recommendation_details(recommendation: Recommendation) -> dict:
    return {
        "target_probability": round(recommendation.target_probability, 6),
        "expected_quality_ratio": round(recommendation.expected_quality_ratio, 6),
        "roles": {
            c.role: {
                "model": c.model,
                "tier": c.tier,
                "expected_quality": round(c.expected_quality, 6),
                "expected_cost_per_call_usd": round(c.expected_cost, 9),
                "confidence": round(c.confidence, 6),
                "evidence_n": round(c.evidence_n, 3),
                "reason": c.reason,
            }
            for c in recommendation.choices
        },
    }


def replay_table(report: dict) -> str:
    """The replay report as a plain-text table: the policy, then cost and quality of each run."""
    lines = ["role                 model", *(f"{r:<20} {m}" for r, m in report["policy"].items()), ""]
    lines.append(f"{'':<10} {'cost USD':>12} {'quality':>8} {'cost/frontier':>14} {'quality/frontier':>17}")
    rows = {"online": report["online"], "final": report["final"], **report["baselines"]}
    for name, row in rows.items():
        lines.append(
            f"{name:<10} {Decimal(row['cost_usd']):>12.4f} {row['mean_quality']:>8.4f}"
            f" {row['cost_ratio_vs_frontier']:>14.4f} {row['quality_ratio_vs_frontier']:>17.4f}"
        )
    promise = report["calibration"]
    lines.append(f"claimed chance of meeting the target {promise['claimed_probability']:.0%}; "
                 f"{'met' if promise['met_target'] else 'missed'} (quality ratio {promise['quality_ratio']:.4f})")
    return "\n".join(lines)
