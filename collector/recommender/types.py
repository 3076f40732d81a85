"""Plain data for the routing-policy recommender: what was observed, what a role may use, the
knobs, and the answer.

Kept apart from the bandit so the collector, the replay and the policy writer can share them
without importing any of the posterior machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tierscope.terms import DEFAULT_QUALITY_TARGET


@dataclass(frozen=True)
class ArmStats:
    """Aggregates for one (role, model) over a window.

    ``n_quality`` of the ``n_calls`` calls carry a quality score, summing to ``quality_sum``;
    ``current_share`` is the share of the role's calls the current routing sends to this model.
    ``timed_calls`` of the calls have a duration (end after start); ``p50_ms`` and ``p95_ms`` are
    its percentiles over them in whole milliseconds (``None`` without any).
    """

    role: str
    model: str
    tier: str
    n_calls: int
    n_quality: int
    quality_sum: float
    cost_sum_usd: Decimal
    current_share: float
    timed_calls: int = 0
    p50_ms: int | None = None
    p95_ms: int | None = None

    @property
    def cost_per_call_usd(self) -> Decimal | None:
        return self.cost_sum_usd / self.n_calls if self.n_calls else None


@dataclass(frozen=True)
class ArmSpec:
    """One model a role may be routed to.

    ``prior_cost`` is a price-list cost per call in USD, used until the arm has been observed;
    without it an unobserved arm is assumed free, which makes the bandit try it once (optimism).
    """

    model: str
    tier: str
    prior_cost: float | None = None


@dataclass(frozen=True)
class RoleSpec:
    """A role (planner, worker, formatter...) and the rules for routing it.

    ``reference`` is the model whose quality defines "all-frontier" for the global quality target.
    ``incumbent`` is today's routing (defaults to the reference): the recommendation only moves
    away from it to arms with enough evidence. ``pinned`` is a compliance pin: the role is never
    routed anywhere else. ``floor`` is an absolute quality floor; ``relative_floor`` a fraction of
    the best eligible arm's quality.
    """

    role: str
    arms: tuple[ArmSpec, ...]
    reference: str
    incumbent: str | None = None
    pinned: str | None = None
    floor: float | None = None
    relative_floor: float | None = None

    def __post_init__(self) -> None:
        models = [arm.model for arm in self.arms]
        if len(set(models)) != len(models):
            raise ValueError(f"role {self.role!r} lists a model twice")
        for name in (self.reference, self.incumbent, self.pinned):
            if name is not None and name not in models:
                raise ValueError(f"role {self.role!r} has no arm {name!r}")

    @property
    def current(self) -> str:
        """The model the role is routed to today."""
        return self.pinned or self.incumbent or self.reference


@dataclass(frozen=True)
class BanditConfig:
    """Recommender knobs.

    ``quality_target``: overall (volume-weighted) quality must be at least this fraction of the
    all-reference quality; ``None`` keeps only the per-role floors. ``window``: forgetting window
    in calls of a role (each call of a role discounts that role's evidence by ``1 - 1/window``);
    ``None`` never forgets. ``min_evidence``: quality observations (after discounting) an arm
    needs before the recommendation may move a role onto it. ``control_share``: share of calls
    routed to the reference as a control group, which keeps the quality target's yardstick
    measured. ``confidence``: posterior probability with which the recommended policy should
    meet the target. ``certainty_premium``: how much more (as a fraction of expected cost) the
    recommendation will pay for the policy most likely to meet the target. ``samples``:
    posterior draws behind those probabilities. ``safety``: the probability with which
    exploration may breach a guard (see ``safety``); ``None`` explores freely (Thompson sampling
    alone). ``online_guard``: the overall guard while learning, as a fraction of what the
    incumbent routing would achieve (``None``: the quality target, when there is one).
    ``prior_strength``: pseudo-observations of the role's pooled quality every arm starts from in
    the recommendation (shrinkage against the winner's curse; 0 for none).
    """

    quality_target: float | None = DEFAULT_QUALITY_TARGET
    window: int | None = None
    min_evidence: int = 10
    control_share: float = 0.1
    confidence: float = 0.8
    certainty_premium: float = 0.1
    samples: int = 256
    safety: float | None = 0.05
    online_guard: float | None = None
    prior_strength: float = 10.0

    def __post_init__(self) -> None:
        if self.quality_target is not None and not 0.0 < self.quality_target <= 1.0:
            raise ValueError("quality_target must be in (0, 1]")
        if self.window is not None and self.window < 2:
            raise ValueError("window must be at least 2 calls")
        for name in ("control_share", "confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.safety is not None and not 0.0 < self.safety < 1.0:
            raise ValueError("safety must be in (0, 1)")
        if self.online_guard is not None and not 0.0 < self.online_guard <= 1.0:
            raise ValueError("online_guard must be in (0, 1]")
        if self.certainty_premium < 0 or self.prior_strength < 0 or self.samples < 1 or self.min_evidence < 0:
            raise ValueError("certainty_premium, samples and min_evidence must be non-negative")

    @property
    def guard(self) -> float | None:
        """The overall online guard in force: ``online_guard``, else the quality target."""
        return self.online_guard if self.online_guard is not None else self.quality_target

    @property
    def discount(self) -> float:
        """Per-call evidence discount; 1.0 means no forgetting."""
        return 1.0 if self.window is None else 1.0 - 1.0 / self.window


@dataclass(frozen=True)
class RoleChoice:
    """The recommended model for one role and how sure we are of it.

    ``confidence`` is the share of posterior draws in which this model is the role's best value
    at that draw's price of quality (see ``recommender_price``); ``evidence_n`` the (discounted)
    number of quality observations behind the model; ``expected_cost`` is per call, in USD.
    """

    role: str
    model: str
    tier: str
    current_model: str
    expected_quality: float
    expected_cost: float
    confidence: float
    evidence_n: float
    pinned: bool
    reason: str

    @property
    def moved(self) -> bool:
        return self.model != self.current_model


@dataclass(frozen=True)
class Recommendation:
    """A routing recommendation: one choice per role plus policy-level expectations.

    ``target_probability`` is the posterior probability that the policy meets the quality
    target (1.0 when there is none); ``expected_quality_ratio`` is its expected volume-weighted
    quality relative to routing every role to its reference model.
    """

    choices: tuple[RoleChoice, ...]
    quality_target: float | None
    target_probability: float
    expected_quality_ratio: float

    def model_for(self, role: str) -> str:
        for choice in self.choices:
            if choice.role == role:
                return choice.model
        raise KeyError(role)

    def as_mapping(self) -> dict[str, str]:
        return {choice.role: choice.model for choice in self.choices}
