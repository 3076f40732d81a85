"""Turn posterior beliefs about (role, model) quality and cost into a routing recommendation.

Pure: a frozen snapshot of beliefs in, a ``Recommendation`` out, randomness from the caller's
``numpy.random.Generator``. The arms a role may use are decided in a cascade: its pin, else its
arms not demoted by an alert and with ``min_evidence`` observations (or its current model), then of
those the ones within its latency SLO (if any is), then the ones that meet its quality floors.
Candidates are the Pareto-optimal assignments (exact, on posterior means) of those arms. Among them we take the cheapest that
meets the global quality target in at least ``confidence`` of the posterior draws, then the one
most likely to meet it within a ``certainty_premium`` of that cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tierscope.collector.recommender.price import quality_price, role_choices
from tierscope.collector.recommender.solver import QUALITY_TOLERANCE, ParetoFront, pareto_front
from tierscope.collector.recommender.types import BanditConfig, Recommendation, RoleChoice, RoleSpec

_CANDIDATE_CHUNK = 128


@dataclass(frozen=True, eq=False)
class Beliefs:
    """Posterior state as ``(roles, arms)`` arrays; arms past a role's own list are padding.

    Quality posteriors are Beta(1 + quality_sum, 1 + quality_n - quality_sum), shrunk towards the
    role's other arms by ``prior_strength`` pseudo-observations (see ``posterior``); ``cost`` is the
    estimated cost per call; ``reference``, ``incumbent`` and ``pinned`` hold arm indices
    (``pinned`` is -1 for unpinned roles); absent floors are NaN. ``over_slo`` marks the arms that
    break their role's latency SLO (or whose latency is unknown there; the caller decides).
    """

    roles: tuple[RoleSpec, ...]
    exists: np.ndarray
    demoted: np.ndarray
    over_slo: np.ndarray
    quality_sum: np.ndarray
    quality_n: np.ndarray
    cost: np.ndarray
    cost_weight: np.ndarray
    volume: np.ndarray
    reference: np.ndarray
    incumbent: np.ndarray
    pinned: np.ndarray
    floor: np.ndarray
    relative_floor: np.ndarray
    prior_strength: float = 0.0

    @property
    def alpha(self) -> np.ndarray:
        return posterior(self.quality_sum, self.quality_n, self.exists, self.reference, self.prior_strength)[0]

    @property
    def beta(self) -> np.ndarray:
        return posterior(self.quality_sum, self.quality_n, self.exists, self.reference, self.prior_strength)[1]

    @property
    def weights(self) -> np.ndarray:
        """Each role's share of call volume (one pseudo-call each, so a new role still counts)."""
        volume = self.volume + 1.0
        return volume / volume.sum()


def posterior(
    quality_sum: np.ndarray, quality_n: np.ndarray, exists: np.ndarray, reference: np.ndarray, strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Beta posteriors (alpha, beta) of every arm, shrunk towards its role's pooled quality.

    The prior of each arm of a role is Beta(1, 1) plus ``strength`` pseudo-observations at the
    pooled mean quality of the role's graded arms other than its reference (0.5 if none). Among
    many candidates the best-looking one is usually lucky (the winner's curse) and new prompts will
    not repeat its luck; what the role's other models score is the honest guess for a model seen
    only a few times, and a model never seen starts there too instead of anywhere in [0, 1].
    """
    others = exists.copy()
    others[np.arange(exists.shape[0]), reference] = False
    n = np.where(others, quality_n, 0.0).sum(axis=1)
    total = np.where(others, quality_sum, 0.0).sum(axis=1)
    pooled = np.where(n > 0, total / np.maximum(n, 1e-12), 0.5)[:, None]
    return 1.0 + strength * pooled + quality_sum, 1.0 + strength * (1.0 - pooled) + quality_n - quality_sum


def apply_floors(
    quality: np.ndarray, allowed: np.ndarray, floor: np.ndarray, relative_floor: np.ndarray
) -> np.ndarray:
    """Allowed arms whose quality meets the role's absolute and relative floors.

    Works on ``(roles, arms)`` or ``(draws, roles, arms)`` quality. A role where no arm meets
    its floors keeps its best allowed arm, so every role stays routable.
    """
    allowed = np.broadcast_to(allowed, quality.shape)
    masked = np.where(allowed, quality, -np.inf)
    best = masked.max(axis=-1, keepdims=True)
    ok = allowed & ~(quality < floor[:, None]) & ~(quality < relative_floor[:, None] * best)
    nothing = ~ok.any(axis=-1, keepdims=True)
    return np.where(nothing, allowed & (masked == best), ok)


def within_slo(allowed: np.ndarray, over_slo: np.ndarray) -> np.ndarray:
    """``allowed`` without the arms over their latency SLO, for every role that keeps an arm by it:
    a role whose allowed arms all break the SLO (a pin, say) keeps them (the breach is flagged by
    the caller, never routed around into nothing)."""
    fast = allowed & ~over_slo
    kept = fast.any(axis=-1, keepdims=True)
    return np.where(kept, fast, allowed)


def recommend(
    beliefs: Beliefs, config: BanditConfig, rng: np.random.Generator, horizon: np.ndarray | None = None
) -> Recommendation:
    """The cheapest routing that meets floors and, with enough confidence, the quality target.

    The confidence is about the calls still to come, not the ones learned on: ``horizon`` is the
    number of new calls per role the policy will be judged on (default: as many as observed), and
    each posterior draw adds the sampling noise of that many new prompts (see ``new_prompt_draws``).
    """
    n_roles = len(beliefs.roles)
    rows = np.arange(n_roles)
    means = beliefs.alpha / (beliefs.alpha + beliefs.beta)
    weights = beliefs.weights
    calls_ahead = np.maximum(beliefs.volume if horizon is None else np.asarray(horizon, dtype=float), 1.0)
    gated = _gated(beliefs, config.min_evidence)
    eligible = apply_floors(means, gated, beliefs.floor, beliefs.relative_floor)
    cost = weights[:, None] * beliefs.cost_weight[:, None] * beliefs.cost
    front = pareto_front(cost, weights[:, None] * means, eligible)

    draws = rng.beta(beliefs.alpha, beliefs.beta, size=(config.samples, *means.shape))
    reference_quality = (weights * draws[:, rows, beliefs.reference]).sum(axis=1)
    if config.quality_target is None:
        draw_targets = np.full(config.samples, -np.inf)
        pick, probability = 0, 1.0
    else:
        draw_targets = config.quality_target * reference_quality
        ahead = new_prompt_draws(draws, calls_ahead, rng)
        ahead_weights = calls_ahead / calls_ahead.sum()
        ahead_targets = config.quality_target * (ahead_weights * ahead[:, rows, beliefs.reference]).sum(axis=1)
        pick, probability = _most_affordable_confident(front, ahead, ahead_weights, ahead_targets, config)
    chosen = front.arms[pick]

    agree = np.zeros(n_roles)
    per_call = beliefs.cost_weight[:, None] * beliefs.cost
    draw_eligible = apply_floors(draws, gated, beliefs.floor, beliefs.relative_floor)
    for draw in range(config.samples):
        price = quality_price(per_call, draws[draw], draw_eligible[draw], weights, draw_targets[draw])
        agree += role_choices(price, per_call, draws[draw], draw_eligible[draw]) == chosen
    reference_mean = float((weights * means[rows, beliefs.reference]).sum())
    chosen_mean = float((weights * means[rows, chosen]).sum())
    choices = tuple(
        _choice(beliefs, gated, means, role, int(chosen[role]), agree[role] / config.samples)
        for role in range(n_roles)
    )
    return Recommendation(
        choices=choices,
        quality_target=config.quality_target,
        target_probability=probability,
        expected_quality_ratio=chosen_mean / reference_mean if reference_mean > 0 else 1.0,
    )


def new_prompt_draws(draws: np.ndarray, calls_ahead: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mean quality on the next ``calls_ahead[r]`` prompts of each role, per posterior draw.

    A policy is judged on prompts it has not seen: even with its arms' true quality known, the mean
    over ``n`` new prompts scatters by ``sqrt(q (1 - q) / n)``. Each arm gets its own scatter
    (independent across arms, which overstates the spread of a difference between two arms
    answering the same prompts: the stated chance errs on the cautious side); a policy that keeps
    a role on its reference shares the reference's draw, so that role adds no gap.
    """
    spread = np.sqrt(np.clip(draws * (1.0 - draws), 0.0, None) / calls_ahead[None, :, None])
    return np.clip(draws + spread * rng.standard_normal(draws.shape), 0.0, 1.0)


def _gated(beliefs: Beliefs, min_evidence: int) -> np.ndarray:
    """Arms the recommendation may use: pins, demotions, the minimum-evidence rule and the latency
    SLOs applied, in that order."""
    n_roles, n_arms = beliefs.exists.shape
    incumbent = np.zeros((n_roles, n_arms), dtype=bool)
    incumbent[np.arange(n_roles), beliefs.incumbent] = True
    enough = beliefs.quality_n >= min_evidence - QUALITY_TOLERANCE
    gated = beliefs.exists & ~beliefs.demoted & (enough | incumbent)
    for role in np.flatnonzero(beliefs.pinned >= 0):
        gated[role] = False
        gated[role, beliefs.pinned[role]] = True
    empty = ~gated.any(axis=1)
    gated[empty] = incumbent[empty]  # nothing else is usable: stay where we are
    return within_slo(gated, beliefs.over_slo)


def _most_affordable_confident(
    front: ParetoFront,
    draws: np.ndarray,
    weights: np.ndarray,
    draw_targets: np.ndarray,
    config: BanditConfig,
) -> tuple[int, float]:
    """Pick the Pareto assignment to recommend, and its probability of meeting the target.

    Find the cheapest assignment meeting the target in at least ``confidence`` of the posterior
    draws; then, among assignments costing at most ``certainty_premium`` more, take the one most
    likely to meet it (cheapest among equals). Paying a few percent for a policy that is much
    surer to hold the quality line is usually the better trade, and it keeps the recommendation
    from flipping on noise between near-equal options. If nothing reaches ``confidence``, the
    assignment most likely to meet the target wins.
    """
    candidates = np.arange(front.cost.size)
    rows = np.arange(front.arms.shape[1])
    budget = np.inf
    best_pick, best_probability = 0, -1.0
    for start in range(0, candidates.size, _CANDIDATE_CHUNK):
        chunk = candidates[start : start + _CANDIDATE_CHUNK]
        chunk = chunk[front.cost[chunk] <= budget]
        if chunk.size == 0:
            break
        achieved = (weights * draws[:, rows, front.arms[chunk]]).sum(axis=-1)  # (draws, candidates)
        probability = (achieved >= draw_targets[:, None] - QUALITY_TOLERANCE).mean(axis=0)
        confident = np.flatnonzero(probability >= config.confidence)
        if confident.size and not np.isfinite(budget):
            budget = front.cost[chunk[confident[0]]] * (1.0 + config.certainty_premium)
            within = front.cost[chunk] <= budget
            chunk, probability = chunk[within], probability[within]
        top = int(np.argmax(probability))
        if probability[top] > best_probability:
            best_pick, best_probability = int(chunk[top]), float(probability[top])
    return best_pick, best_probability


def _choice(
    beliefs: Beliefs, gated: np.ndarray, means: np.ndarray, role: int, arm: int, confidence: float
) -> RoleChoice:
    spec = beliefs.roles[role]
    current = int(beliefs.incumbent[role])
    pinned = bool(beliefs.pinned[role] >= 0)
    if pinned:
        reason = "compliance pin"
    elif arm == current:
        reason = "no eligible arm meets floors and target for less"
    elif beliefs.demoted[role, current]:
        reason = "current model demoted by a quality alert"
    elif beliefs.over_slo[role, current] and not gated[role, current]:
        reason = "current model breaks the latency SLO"
    elif beliefs.cost[role, arm] < beliefs.cost[role, current]:
        reason = "meets floors and target for less"
    else:
        reason = "current model falls short of floors or target"
    waiting = int((beliefs.exists[role] & ~beliefs.demoted[role] & ~beliefs.over_slo[role] & ~gated[role]).sum())
    if waiting and not pinned:
        reason += f"; {waiting} arm(s) below minimum evidence"
    return RoleChoice(
        role=spec.role,
        model=spec.arms[arm].model,
        tier=spec.arms[arm].tier,
        current_model=spec.arms[current].model,
        expected_quality=float(means[role, arm]),
        expected_cost=float(beliefs.cost[role, arm]),
        confidence=float(confidence),
        evidence_n=float(beliefs.quality_n[role, arm]),
        pinned=pinned,
        reason=reason,
    )
