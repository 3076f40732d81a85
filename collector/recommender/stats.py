"""Recommend a routing policy from aggregated observations (the store's per (role, model) window).

The collector hands us one ``ArmStats`` row per (role, model) over a window plus the routing
rules (pins, floors, latency SLOs) and the alert state (demotions, cost weights); we load them into
a ``RoutingBandit`` as undiscounted evidence (the window already does the forgetting), take out the
arms over their role's latency SLO (``recommender.latency``), ask it for a recommendation and price
it in ``Decimal``: expected cost per call, and the monthly saving against today's routing at
today's volume.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from tierscope.collector.recommender.bandit import RoutingBandit
from tierscope.collector.recommender.latency import exclusion, route_latency
from tierscope.collector.recommender.policy import Policy, RoleRoute
from tierscope.collector.recommender.types import ArmSpec, ArmStats, BanditConfig, RoleSpec
from tierscope.terms import DEFAULT_QUALITY_TARGET

FRONTIER_TIER = "frontier"
DAYS_PER_MONTH = Decimal(30)
_PER_CALL = Decimal("0.000000001")  # nano-dollars
_MONTHLY = Decimal("0.000001")


@dataclass(frozen=True)
class QualityFloor:
    """A role's quality floor: absolute (a score) and/or relative (a fraction of its best arm)."""

    absolute: float | None = None
    relative: float | None = None


def recommend_policy(
    stats: Sequence[ArmStats],
    rng: np.random.Generator,
    *,
    quality_target: float | None = DEFAULT_QUALITY_TARGET,
    pins: Mapping[str, str] | None = None,
    floors: Mapping[str, QualityFloor] | None = None,
    demoted: Collection[tuple[str, str]] = (),
    cost_weights: Mapping[str, float] | None = None,
    latency_slos: Mapping[str, float] | None = None,
    window_days: float = 30.0,
    min_evidence: int = BanditConfig.min_evidence,
    confidence: float = BanditConfig.confidence,
    version: int = 1,
    generated_at: datetime | None = None,
) -> Policy:
    """The recommended policy for the roles in ``stats``.

    Each role's reference (the "all-frontier" yardstick) is its most expensive frontier-tier
    model, or its most expensive model if it has none; its current model is the one with the
    largest ``current_share``. ``latency_slos`` bounds a role's p95 span duration in milliseconds.
    Raises ``ValueError`` on inconsistent input.
    """
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    by_role = _group(stats)
    slos = latency_slos or {}
    for name, keyed in (("pins", pins), ("floors", floors), ("cost_weights", cost_weights), ("latency_slos", slos)):
        unknown = set(keyed or {}) - by_role.keys()
        if unknown:
            raise ValueError(f"{name} name role(s) without stats: {sorted(unknown)}")
    specs = [
        _role_spec(role, arms, (pins or {}).get(role), (floors or {}).get(role))
        for role, arms in by_role.items()
    ]
    config = BanditConfig(quality_target=quality_target, min_evidence=min_evidence, confidence=confidence)
    bandit = RoutingBandit(specs, config)
    for row in stats:
        bandit.load(
            row.role,
            row.model,
            n_calls=row.n_calls,
            n_quality=row.n_quality,
            quality_sum=row.quality_sum,
            cost_sum=float(row.cost_sum_usd),
        )
    for role, model in demoted:
        bandit.demote(role, model)
    for role, factor in (cost_weights or {}).items():
        bandit.raise_cost_weight(role, factor)
    for spec in specs:
        for row in by_role[spec.role]:
            if exclusion(row, slos.get(spec.role), row.model == spec.current, min_evidence):
                bandit.exclude_for_latency(spec.role, row.model)
    recommendation = bandit.recommend(rng)
    months = Decimal(str(window_days)) / DAYS_PER_MONTH
    routes = []
    for choice in recommendation.choices:
        arms = {row.model: row for row in by_role[choice.role]}
        calls = Decimal(sum(row.n_calls for row in arms.values())) / months
        new = _per_call(arms[choice.model])
        current = _current_cost(arms.values())
        saving = None
        if new is not None and current is not None:
            saving = ((current - new) * calls).quantize(_MONTHLY, ROUND_HALF_EVEN)
        latency, why = route_latency(by_role[choice.role], choice.model, choice.current_model, choice.pinned,
                                     slos.get(choice.role), min_evidence)
        routes.append(
            RoleRoute(
                role=choice.role,
                model=choice.model,
                tier=choice.tier,
                current_model=choice.current_model,
                expected_cost_per_call_usd=new,
                current_cost_per_call_usd=current,
                expected_quality=choice.expected_quality,
                monthly_calls=int(calls.to_integral_value(ROUND_HALF_EVEN)),
                expected_monthly_saving_usd=saving,
                confidence=choice.confidence,
                evidence_n=int(round(choice.evidence_n)),
                pinned=choice.pinned,
                reason=choice.reason + why,
                latency=latency,
            )
        )
    return Policy(
        version=version,
        quality_target=quality_target,
        target_probability=recommendation.target_probability,
        expected_quality_ratio=recommendation.expected_quality_ratio,
        routes=tuple(routes),
        generated_at=generated_at,
        window_days=window_days,
    )


def _group(stats: Sequence[ArmStats]) -> dict[str, list[ArmStats]]:
    by_role: dict[str, list[ArmStats]] = {}
    seen: set[tuple[str, str]] = set()
    for row in stats:
        if (row.role, row.model) in seen:
            raise ValueError(f"duplicate stats for {row.role!r}/{row.model!r}")
        if row.current_share < 0 or row.n_calls < 0 or row.cost_sum_usd < 0:
            raise ValueError(f"negative aggregate for {row.role!r}/{row.model!r}")
        seen.add((row.role, row.model))
        by_role.setdefault(row.role, []).append(row)
    if not by_role:
        raise ValueError("no stats to recommend from")
    return by_role


def _role_spec(role: str, arms: list[ArmStats], pin: str | None, floor: QualityFloor | None) -> RoleSpec:
    def cost(row: ArmStats) -> Decimal:
        return row.cost_per_call_usd if row.cost_per_call_usd is not None else Decimal(-1)

    frontier = [row for row in arms if row.tier == FRONTIER_TIER and row.n_calls]
    reference = max(frontier or arms, key=cost).model
    current = max(arms, key=lambda row: row.current_share).model
    return RoleSpec(
        role=role,
        arms=tuple(ArmSpec(row.model, row.tier) for row in arms),
        reference=reference,
        incumbent=current,
        pinned=pin,
        floor=floor.absolute if floor else None,
        relative_floor=floor.relative if floor else None,
    )


def _per_call(row: ArmStats) -> Decimal | None:
    cost = row.cost_per_call_usd
    return None if cost is None else cost.quantize(_PER_CALL, ROUND_HALF_EVEN)


def _current_cost(arms: Collection[ArmStats]) -> Decimal | None:
    """Cost per call of today's routing (the share-weighted mix); unpriced if any share is unpriced."""
    used = [(Decimal(str(row.current_share)), row.cost_per_call_usd) for row in arms if row.current_share > 0]
    total = sum((share for share, _ in used), Decimal(0))
    if total == 0 or any(cost is None for _, cost in used):
        return None
    mixed = sum((share * cost for share, cost in used if cost is not None), Decimal(0)) / total
    return mixed.quantize(_PER_CALL, ROUND_HALF_EVEN)
