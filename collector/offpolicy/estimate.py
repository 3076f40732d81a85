"""Off-policy estimates: what a candidate routing policy would cost and achieve, from logged decisions.

The ``Router`` logs, on every call it routes, the probability ``p`` it had of choosing that model.
For a deterministic candidate policy ``pi`` (role -> model), inverse propensity scoring gives an
unbiased estimate of its mean outcome per call over the logged calls of the roles it covers::

    IPS = 1/n * sum_i [model_i == pi(role_i)] * y_i / p_i

and the doubly robust estimate adds a per-(role, model) mean ``q`` as a baseline, which lowers
the variance when propensities vary::

    DR  = 1/n * sum_i q(role_i, pi(role_i)) + [model_i == pi(role_i)] / p_i * (y_i - q(role_i, pi(role_i)))

The outcome ``y`` is the cost of the call (escalation retries included) or its quality score.
Intervals are normal approximations (``z`` standard errors of the per-call terms). A role whose
candidate model was never logged has no support: IPS cannot see it, so it is left out and named.

Pure: sufficient statistics per (role, model, propensity) in, frozen dataclasses out, so the same
function serves the store's aggregates and a test's hand-made data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Interval", "LoggedArm", "LoggedDecision", "PolicyEstimate", "estimate_policy", "summarize"]

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class LoggedDecision:
    """One routed call: its role, the model chosen, the propensity, its cost (USD) and quality, if known."""

    role: str
    model: str
    propensity: float
    cost_usd: Decimal | float | None = None
    quality: float | None = None


@dataclass(frozen=True)
class LoggedArm:
    """Sums over the logged decisions of one (role, model, propensity).

    ``priced`` of the ``decisions`` have a cost, summing to ``cost_sum`` (squares: ``cost_sq_sum``);
    ``quality_n`` have a quality score, likewise.
    """

    role: str
    model: str
    propensity: float
    decisions: int
    priced: int
    cost_sum: float
    cost_sq_sum: float
    quality_n: int
    quality_sum: float
    quality_sq_sum: float

    def __post_init__(self) -> None:
        if not 0.0 < self.propensity <= 1.0:
            raise ValueError(f"propensity must be in (0, 1], got {self.propensity!r} for {self.role!r}/{self.model!r}")
        if not (0 <= self.priced <= self.decisions and 0 <= self.quality_n <= self.decisions):
            raise ValueError(f"inconsistent counts for {self.role!r}/{self.model!r}")


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval, from ``n`` logged calls (``matched`` on the candidate)."""

    estimate: float
    low: float
    high: float
    n: int
    matched: int


@dataclass(frozen=True)
class PolicyEstimate:
    """IPS and doubly robust estimates of a candidate policy's mean cost and quality per call.

    ``logged_*`` is what the logging policy actually did on the same calls (for comparison);
    ``roles`` holds each covered role's IPS estimates; ``unsupported_roles`` are the candidate's
    roles with logged calls but none on its model. Estimates are ``None`` without data.
    """

    n: int
    matched: int
    cost_ips: Interval | None
    quality_ips: Interval | None
    cost_dr: Interval | None
    quality_dr: Interval | None
    logged_cost: float | None
    logged_quality: float | None
    roles: Mapping[str, tuple[Interval | None, Interval | None]]
    unsupported_roles: tuple[str, ...]
    confidence_level: float


def summarize(decisions: Iterable[LoggedDecision]) -> list[LoggedArm]:
    """Sufficient statistics per (role, model, propensity) of decision-level data."""
    sums: dict[tuple[str, str, float], list[float]] = {}
    for d in decisions:
        s = sums.setdefault((d.role, d.model, float(d.propensity)), [0, 0, 0.0, 0.0, 0, 0.0, 0.0])
        s[0] += 1
        if d.cost_usd is not None:
            cost = float(d.cost_usd)
            s[1] += 1
            s[2] += cost
            s[3] += cost * cost
        if d.quality is not None:
            s[4] += 1
            s[5] += d.quality
            s[6] += d.quality * d.quality
    return [LoggedArm(role, model, p, int(s[0]), int(s[1]), s[2], s[3], int(s[4]), s[5], s[6])
            for (role, model, p), s in sorted(sums.items())]


def estimate_policy(arms: Sequence[LoggedArm], policy: Mapping[str, str], z: float = Z_95) -> PolicyEstimate:
    """Off-policy estimates of routing each role to ``policy[role]``, from the logged ``arms``."""
    in_policy = [a for a in arms if a.role in policy]
    supported = {a.role for a in in_policy if a.model == policy[a.role]}
    unsupported = tuple(sorted({a.role for a in in_policy} - supported))
    used = [a for a in in_policy if a.role in supported]
    roles = {
        role: (
            _ips([a for a in used if a.role == role], policy, "cost", z),
            _ips([a for a in used if a.role == role], policy, "quality", z),
        )
        for role in sorted(supported)
    }
    return PolicyEstimate(
        n=sum(a.decisions for a in used),
        matched=sum(a.decisions for a in used if a.model == policy[a.role]),
        cost_ips=_ips(used, policy, "cost", z),
        quality_ips=_ips(used, policy, "quality", z),
        cost_dr=_dr(used, policy, "cost", z),
        quality_dr=_dr(used, policy, "quality", z),
        logged_cost=_mean(used, "cost"),
        logged_quality=_mean(used, "quality"),
        roles=roles,
        unsupported_roles=unsupported,
        confidence_level=round(math.erf(z / math.sqrt(2)), 4),
    )


def _stats(arm: LoggedArm, outcome: str) -> tuple[int, float, float]:
    if outcome == "cost":
        return arm.priced, arm.cost_sum, arm.cost_sq_sum
    return arm.quality_n, arm.quality_sum, arm.quality_sq_sum


def _interval(total: float, total_sq: float, n: int, matched: int, z: float) -> Interval:
    mean = total / n
    variance = max(total_sq / n - mean * mean, 0.0) * n / (n - 1) if n > 1 else 0.0
    half = z * math.sqrt(variance / n)
    return Interval(mean, mean - half, mean + half, n, matched)


def _ips(arms: Sequence[LoggedArm], policy: Mapping[str, str], outcome: str, z: float) -> Interval | None:
    """IPS: the per-call term is y / p on a match, 0 otherwise."""
    n = total = total_sq = 0.0
    matched = 0
    for arm in arms:
        count, s, ss = _stats(arm, outcome)
        n += count
        if arm.model == policy[arm.role]:
            matched += count
            total += s / arm.propensity
            total_sq += ss / arm.propensity**2
    return _interval(total, total_sq, int(n), matched, z) if n else None


def _dr(arms: Sequence[LoggedArm], policy: Mapping[str, str], outcome: str, z: float) -> Interval | None:
    """Doubly robust with q = the candidate model's mean outcome in the role (pooled over propensities)."""
    baseline: dict[str, float] = {}
    for role in {a.role for a in arms}:
        on_policy = [_stats(a, outcome) for a in arms if a.role == role and a.model == policy[role]]
        count = sum(c for c, _, _ in on_policy)
        if count == 0:
            return None  # no graded/priced call on the candidate model: no baseline for this role
        baseline[role] = sum(s for _, s, _ in on_policy) / count
    n = total = total_sq = 0.0
    matched = 0
    for arm in arms:
        count, s, ss = _stats(arm, outcome)
        q = baseline[arm.role]
        n += count
        if arm.model == policy[arm.role]:
            # term_i = q + (y_i - q) / p; summed over the arm and squared, from s and ss.
            w = 1.0 / arm.propensity
            matched += count
            total += count * q + w * (s - count * q)
            total_sq += count * q * q * (1 - w) ** 2 + 2 * q * (1 - w) * w * s + w * w * ss
        else:
            total += count * q
            total_sq += count * q * q
    return _interval(total, total_sq, int(n), matched, z) if n else None


def _mean(arms: Sequence[LoggedArm], outcome: str) -> float | None:
    count = sum(_stats(a, outcome)[0] for a in arms)
    return sum(_stats(a, outcome)[1] for a in arms) / count if count else None
