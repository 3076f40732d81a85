"""Yardsticks for a routing policy on an outcome matrix: frontier, hindsight and oracle.

All comparisons run on the *complete* rows (every model has an outcome), so every policy is
scored on the same prompts. Totals are exact ``Decimal`` sums of the cost cells.

- frontier: always the model with the highest total cost over the data;
- hindsight: the cheapest fixed role -> model assignment whose overall quality reaches the
  target fraction of frontier quality, found exactly (Pareto dynamic programme over roles);
- oracle: per prompt, the cheapest model with the best quality on that prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tierscope.collector.recommender.outcomes import OutcomeMatrix
from tierscope.collector.recommender.solver import cheapest_assignment


@dataclass(frozen=True)
class Outcome:
    """What routing a set of prompts one way cost and achieved."""

    prompts: int
    cost_usd: Decimal
    mean_quality: float

    def ratios_to(self, other: Outcome, name: str) -> dict[str, float]:
        """Cost and quality as fractions of ``other``'s, keyed ``cost_ratio_vs_<name>`` etc."""
        cost = float(self.cost_usd / other.cost_usd) if other.cost_usd else float("nan")
        quality = self.mean_quality / other.mean_quality if other.mean_quality else float("nan")
        return {f"cost_ratio_vs_{name}": round(cost, 6), f"quality_ratio_vs_{name}": round(quality, 6)}

    def as_dict(self) -> dict[str, object]:
        return {
            "prompts": self.prompts,
            "cost_usd": str(self.cost_usd),
            "mean_quality": round(self.mean_quality, 6),
        }


def frontier_model(matrix: OutcomeMatrix) -> str:
    """The model with the highest total cost over the observed cells."""
    totals = [
        sum((c for c in matrix.cost_usd[:, k] if c is not None), Decimal(0))
        for k in range(len(matrix.models))
    ]
    return matrix.models[max(range(len(totals)), key=totals.__getitem__)]


def outcome_of(matrix: OutcomeMatrix, picks: np.ndarray) -> Outcome:
    """Outcome of choosing model index ``picks[i]`` on row ``i``; every pick must be observed."""
    rows = np.arange(len(picks))
    if len(picks) and not matrix.observed[rows, picks].all():
        raise ValueError("a pick has no outcome")
    cost = sum(matrix.cost_usd[rows, picks].tolist(), Decimal(0))
    quality = float(matrix.quality[rows, picks].mean()) if len(picks) else float("nan")
    return Outcome(prompts=len(picks), cost_usd=cost, mean_quality=quality)


def assignment_picks(matrix: OutcomeMatrix, policy: Mapping[str, str], fallback: str) -> np.ndarray:
    """Model index per row for a role -> model policy (roles it lacks go to ``fallback``)."""
    index = {model: k for k, model in enumerate(matrix.models)}
    return np.array([index[policy.get(role, fallback)] for role in matrix.roles], dtype=np.int64)


def hindsight_policy(matrix: OutcomeMatrix, frontier: str, quality_target: float) -> dict[str, str]:
    """Cheapest fixed role -> model assignment reaching ``quality_target`` x frontier quality.

    Exact: per-role totals feed the Pareto dynamic programme. A role may only use models with
    an outcome on all of its prompts (pass complete rows).
    """
    roles = matrix.role_names
    cost = np.zeros((len(roles), len(matrix.models)))
    quality = np.zeros_like(cost)
    allowed = np.zeros_like(cost, dtype=bool)
    observed = matrix.observed
    for r, role in enumerate(roles):
        rows = matrix.roles == role
        allowed[r] = observed[rows].all(axis=0)
        for k in np.flatnonzero(allowed[r]):
            cost[r, k] = float(sum(matrix.cost_usd[rows, k].tolist(), Decimal(0)))
            quality[r, k] = matrix.quality[rows, k].sum()
    frontier_index = matrix.models.index(frontier)
    if not allowed[:, frontier_index].all():
        raise ValueError(f"the frontier model {frontier!r} lacks outcomes on some prompts")
    target = quality_target * float(quality[:, frontier_index].sum())
    arms = cheapest_assignment(cost, quality, allowed, target)
    return {role: matrix.models[arms[r]] for r, role in enumerate(roles)}


def oracle_picks(matrix: OutcomeMatrix) -> np.ndarray:
    """Per row, the cheapest model among those with the row's best quality."""
    quality = np.where(matrix.observed, matrix.quality, -np.inf)
    best = quality == quality.max(axis=1, keepdims=True)
    return np.argmin(np.where(best & matrix.observed, matrix.cost, np.inf), axis=1)
