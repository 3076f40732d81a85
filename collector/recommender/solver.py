"""Exact cheapest "one model per role" assignment under a global quality target.

The routing problem is a multiple-choice knapsack: every role takes exactly one arm, the total
(volume-weighted) cost is minimised and the total (volume-weighted) quality must reach a target.
We solve it exactly with a dynamic programme over roles that keeps only the Pareto front of partial
assignments (no partial assignment that is both dearer and worse survives). With a few dozen roles
of a dozen arms the front stays small; past ``max_states`` it is thinned to the cheapest state per
quality bucket, which is the only place the answer can become approximate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUALITY_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class ParetoFront:
    """Non-dominated full assignments, sorted by cost and (therefore) by quality, both ascending.

    ``arms[i, r]`` is the arm index chosen for role ``r`` in assignment ``i``.
    """

    arms: np.ndarray
    cost: np.ndarray
    quality: np.ndarray

    def cheapest_meeting(self, target: float) -> int:
        """Index of the cheapest assignment whose quality reaches ``target``; the best one if none does."""
        meeting = np.flatnonzero(self.quality >= target - QUALITY_TOLERANCE)
        return int(meeting[0]) if meeting.size else len(self.cost) - 1


def pareto_front(
    cost: np.ndarray, quality: np.ndarray, allowed: np.ndarray, max_states: int = 20_000
) -> ParetoFront:
    """Pareto front of assignments picking one allowed arm per role.

    ``cost``, ``quality`` and ``allowed`` are ``(roles, arms)`` arrays; weights (volume, cost
    weight) must already be folded into ``cost`` and ``quality``. Every role needs at least one
    allowed arm. Ties in cost keep the higher quality, and ties in both keep the lower arm index,
    so the result is deterministic.
    """
    n_roles = cost.shape[0]
    if not np.all(allowed.any(axis=1)):
        raise ValueError("every role needs at least one allowed arm")
    front_cost = np.zeros(1)
    front_quality = np.zeros(1)
    parents: list[np.ndarray] = []
    chosen: list[np.ndarray] = []
    for role in range(n_roles):
        arms = np.flatnonzero(allowed[role])
        new_cost = (front_cost[:, None] + cost[role, arms][None, :]).ravel()
        new_quality = (front_quality[:, None] + quality[role, arms][None, :]).ravel()
        parent = np.repeat(np.arange(front_cost.size), arms.size)
        arm = np.tile(arms, front_cost.size)
        order = np.lexsort((arm, parent, -new_quality, new_cost))
        new_cost, new_quality = new_cost[order], new_quality[order]
        parent, arm = parent[order], arm[order]
        best_so_far = np.maximum.accumulate(new_quality)
        keep = np.ones(new_quality.size, dtype=bool)
        keep[1:] = new_quality[1:] > best_so_far[:-1]
        if keep.sum() > max_states:
            keep &= _cheapest_per_quality_bucket(new_quality, keep, max_states)
        parents.append(parent[keep])
        chosen.append(arm[keep])
        front_cost, front_quality = new_cost[keep], new_quality[keep]
    assignment = np.empty((front_cost.size, n_roles), dtype=np.int64)
    index = np.arange(front_cost.size)
    for role in reversed(range(n_roles)):
        assignment[:, role] = chosen[role][index]
        index = parents[role][index]
    return ParetoFront(arms=assignment, cost=front_cost, quality=front_quality)


def cheapest_assignment(
    cost: np.ndarray, quality: np.ndarray, allowed: np.ndarray, target: float
) -> np.ndarray:
    """Arm index per role of the cheapest assignment reaching ``target`` (or the best, if none can)."""
    front = pareto_front(cost, quality, allowed)
    return front.arms[front.cheapest_meeting(target)]


def _cheapest_per_quality_bucket(quality: np.ndarray, keep: np.ndarray, buckets: int) -> np.ndarray:
    """Mask keeping, among ``keep``, the first (cheapest) state of each of ``buckets`` quality bins."""
    kept = np.flatnonzero(keep)
    low, high = quality[kept].min(), quality[kept].max()
    width = (high - low) / buckets or 1.0
    bucket = np.minimum(((quality[kept] - low) / width).astype(np.int64), buckets - 1)
    _, first = np.unique(bucket, return_index=True)
    mask = np.zeros(quality.size, dtype=bool)
    mask[kept[first]] = True
    mask[kept[-1]] = True  # never lose the best-quality state
    return mask
