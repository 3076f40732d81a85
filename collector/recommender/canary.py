"""From cold start, a plan: a canary for every role that has a cheaper model it might move to.

A role on its incumbent with a cheaper candidate (a tier its routing-policy file allows, or a
cheaper model already seen for the role) but too little graded evidence on it gets a canary: a
share of the role's calls on the candidate, graded, until the candidate's lower confidence bound
clears the role's floor (it moves) or its upper bound falls below it (it stays).

- ``share``: the largest share that keeps the role's mean quality at its floor even if every
  canary answer failed: ``1 - floor / incumbent quality`` (1% to 20%; 5% when the incumbent's
  quality is unknown).
- ``graded_calls_needed``: calls after which a candidate as good as the incumbent clears the floor
  at the lower bound four times in five: ``(z + 0.84)^2 q (1 - q) / (q - floor)^2`` (at least 30).
- worst case of learning: every canary answer fails -- the role's quality drops by
  ``share x incumbent quality`` for the canary's duration, and redoing those calls on the
  incumbent costs the canary calls' price on top.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tierscope.collector.recommender.policy import Policy, RoleRoute
from tierscope.collector.recommender.policy_file import tier_rank
from tierscope.collector.recommender.safety import lower_bound, z_score
from tierscope.collector.recommender.types import ArmStats

MIN_GRADED = 30
POWER_Z = 0.8416  # a candidate as good as the incumbent clears the floor with probability 0.8
MAX_GRADED = 5000
MIN_SHARE, MAX_SHARE, UNKNOWN_SHARE = 0.01, 0.2, 0.05
_CENTS = Decimal("0.000001")
_PER_CALL = Decimal("0.000000001")


@dataclass(frozen=True)
class Candidate:
    """A cheaper model for ``role``: where it came from, and its price and evidence so far.

    ``cost_per_call_usd`` is the role's calls repriced on the model (``None``: unpriced);
    ``n_quality``/``quality_sum`` the graded calls the model has served for this role.
    """

    role: str
    model: str
    tier: str
    provider: str
    source: str
    cost_per_call_usd: Decimal | None
    n_quality: int = 0
    quality_sum: float = 0.0


@dataclass(frozen=True)
class Incumbent:
    """Today's model of the role: its graded quality, price per call and monthly volume."""

    model: str
    n_quality: int
    quality_sum: float
    cost_per_call_usd: Decimal | None
    monthly_calls: int

    @property
    def quality(self) -> float | None:
        return self.quality_sum / self.n_quality if self.n_quality else None


def plan(candidate: Candidate, incumbent: Incumbent, floor: float, safety: float = 0.05) -> dict[str, Any]:
    """The canary for ``candidate`` against ``incumbent`` at ``floor``: JSON-ready, money as strings.

    ``state`` is ``proposed`` (no graded call yet), ``running`` (some, not enough), ``promote``
    (the lower bound clears the floor: move the role) or ``stay`` (the upper bound is below it).
    """
    z = z_score(safety)
    q = incumbent.quality
    share = UNKNOWN_SHARE if q is None or q <= 0 else min(MAX_SHARE, max(MIN_SHARE, 1.0 - floor / q))
    needed = _graded_needed(q, floor, z)
    wins, losses = 1.0 + candidate.quality_sum, 1.0 + candidate.n_quality - candidate.quality_sum
    low = float(lower_bound(wins, losses, z))
    high = 1.0 - float(lower_bound(losses, wins, z))
    state = ("promote" if candidate.n_quality >= MIN_GRADED and low >= floor
             else "stay" if candidate.n_quality >= MIN_GRADED and high < floor
             else "running" if candidate.n_quality else "proposed")
    remaining = 0 if state in ("promote", "stay") else max(needed - candidate.n_quality, 0)
    role_calls = math.ceil(remaining / share) if remaining else 0
    per_day = incumbent.monthly_calls / 30.0
    return {
        "model": candidate.model, "tier": candidate.tier, "provider": candidate.provider, "source": candidate.source,
        "state": state, "share": round(share, 4), "floor": round(floor, 6),
        "graded_calls_needed": needed, "graded_calls_so_far": candidate.n_quality,
        "graded_calls_remaining": remaining, "role_calls_until_decision": role_calls,
        "days_until_decision": round(role_calls / per_day, 2) if per_day > 0 and remaining else (0.0 if not remaining else None),
        "quality": round(candidate.quality_sum / candidate.n_quality, 6) if candidate.n_quality else None,
        "quality_low": round(low, 6) if candidate.n_quality else None,
        "quality_high": round(high, 6) if candidate.n_quality else None,
        "incumbent_quality": round(q, 6) if q is not None else None,
        "cost_per_call_usd": _text(candidate.cost_per_call_usd, _PER_CALL),
        "monthly_saving_if_holds_usd": _text(_saving(candidate, incumbent), _CENTS),
        "worst_case_quality_drop": round(share * q, 6) if q is not None else None,
        "worst_case_extra_cost_usd": _text(None if candidate.cost_per_call_usd is None
                                           else candidate.cost_per_call_usd * remaining, _CENTS),
    }


def _graded_needed(q: float | None, floor: float, z: float) -> int:
    """Graded calls for a candidate as good as the incumbent to clear ``floor`` at the lower bound."""
    if q is None:
        q = min(1.0, floor + 0.1)
    q = max(q, min(1.0, floor + 0.02))  # an incumbent at the floor: ask for a margin of two points
    margin = q - floor
    if margin <= 0:
        return MAX_GRADED
    spread = (z + POWER_Z) ** 2 * q * (1.0 - q)
    return int(min(MAX_GRADED, max(MIN_GRADED, math.ceil(spread / (margin * margin)))))


def _saving(candidate: Candidate, incumbent: Incumbent) -> Decimal | None:
    if candidate.cost_per_call_usd is None or incumbent.cost_per_call_usd is None:
        return None
    return (incumbent.cost_per_call_usd - candidate.cost_per_call_usd) * incumbent.monthly_calls


def _text(value: Decimal | None, step: Decimal) -> str | None:
    return None if value is None else str(value.quantize(step, ROUND_HALF_EVEN))


def with_canaries(
    policy: Policy,
    stats: Sequence[ArmStats],
    misrouted_rows: Sequence[Mapping[str, Any]],
    floor_of: Callable[[str], float],
    safety: float = 0.05,
    too_slow: Collection[tuple[str, str]] = (),
) -> Policy:
    """``policy`` with a canary on every unpinned role that stays put while a cheaper model might do.

    Candidates, first found wins: the routing-policy file's cheapest model on the role's highest
    allowed tier (a ``policy`` row of misrouted, priced on the role's own calls), else the best
    graded cheaper-tier model already seen for the role; never a (role, model) in ``too_slow`` (it
    breaks the role's latency SLO). A role whose canary has not decided yet has unknown confidence. The floor is the larger of the role's policy floor and the quality
    target times the incumbent's quality.
    """
    by_role: dict[str, dict[str, ArmStats]] = {}
    for row in stats:
        by_role.setdefault(row.role, {})[row.model] = row
    routes = []
    for route in policy.routes:
        arms = by_role.get(route.role, {})
        current = arms.get(route.current_model)
        candidate = (None if route.pinned or route.moved or current is None
                     else _candidate(route, arms, misrouted_rows, {m for r, m in too_slow if r == route.role}))
        if candidate is None:
            routes.append(route)
            continue
        incumbent = Incumbent(current.model, current.n_quality, current.quality_sum,
                              current.cost_per_call_usd, route.monthly_calls)
        floor = floor_of(route.role)
        if incumbent.quality is not None and policy.quality_target is not None:
            floor = max(floor, policy.quality_target * incumbent.quality)
        canary = plan(candidate, incumbent, floor, safety)
        undecided = canary["state"] in ("proposed", "running")
        reason = (f"unknown: {canary['graded_calls_remaining']} more graded calls on {candidate.model} "
                  f"({candidate.tier}) decide; canary proposed" if undecided
                  else f"{route.reason}; canary on {candidate.model}: {canary['state']}")
        routes.append(replace(route, canary=canary, confidence=None if undecided else route.confidence, reason=reason))
    return replace(policy, routes=tuple(routes))


def _candidate(route: RoleRoute, arms: Mapping[str, ArmStats], rows: Sequence[Mapping[str, Any]],
               too_slow: Collection[str]) -> Candidate | None:
    for row in rows:
        if (row.get("kind"), row.get("role"), row.get("model")) != ("policy", route.role, route.current_model):
            continue
        if not row.get("target_model") or row["target_model"] in too_slow:
            continue
        repriced = int(row.get("repriced_calls") or 0)
        cost = Decimal(str(row["target_cost_usd"])) / repriced if repriced and row.get("target_cost_usd") is not None else None
        seen = arms.get(row["target_model"])
        return Candidate(route.role, row["target_model"], row["target_tier"], row.get("target_provider") or "",
                         "policy file", cost, seen.n_quality if seen else 0, seen.quality_sum if seen else 0.0)
    current = arms[route.current_model]
    cheaper = [a for a in arms.values()
               if 0 <= tier_rank(a.tier) < tier_rank(current.tier) and a.n_calls and a.model not in too_slow]
    if not cheaper:
        return None
    best = max(cheaper, key=lambda a: (a.quality_sum / a.n_quality if a.n_quality else -1.0, -tier_rank(a.tier), a.model))
    return Candidate(route.role, best.model, best.tier, "", "seen for the role", best.cost_per_call_usd,
                     best.n_quality, best.quality_sum)
