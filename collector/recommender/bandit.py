"""Routing bandit: Thompson sampling per role under a global quality target, with forgetting.

Each (role, model) arm carries a Beta posterior on quality (scores in [0, 1], fractional updates)
and a running cost-per-call estimate. The global problem -- cheapest volume-weighted cost subject
to per-role floors and overall quality >= ``quality_target`` x all-reference quality -- is split
across roles by a price of quality (``recommender_price``), set from the posterior means. A call of
a role then goes to the arm with the highest ``price * sampled quality - cost`` among those whose
sampled quality meets the role's floors (Lagrangian Thompson sampling). A ``control_share`` of
calls goes to the reference model, the yardstick of the quality target, so that it stays measured.

Forgetting: every call of a role discounts that role's evidence by ``1 - 1/window``, so after a
drift the posterior follows the new behaviour within about one window. Alerts act directly:
``demote``/``restore`` take an arm out of (and back into) consideration; ``raise_cost_weight``
makes a role's spend count more, moving the quality budget away from it. A latency SLO acts the
same way, one step softer: ``exclude_for_latency`` takes an arm out unless that would leave its
role nothing to route to (then the role keeps its arms, and the caller flags the breach).

The state is mutable (a router updates it per call) but all randomness comes from the caller's
``numpy.random.Generator``: the same calls with the same seed give the same routing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from tierscope.collector.recommender.decide import Beliefs, apply_floors, posterior, recommend, within_slo
from tierscope.collector.recommender.price import quality_price
from tierscope.collector.recommender.safety import Guard, lower_bound, z_score
from tierscope.collector.recommender.types import BanditConfig, Recommendation, RoleSpec

__all__ = ["RoutingBandit"]


class RoutingBandit:
    """Routing posterior for a set of roles; ``choose`` routes a call, ``recommend`` commits."""

    def __init__(self, roles: Sequence[RoleSpec], config: BanditConfig | None = None) -> None:
        if not roles:
            raise ValueError("at least one role is needed")
        self.roles = tuple(roles)
        self.config = config or BanditConfig()
        self._role_index = {spec.role: r for r, spec in enumerate(self.roles)}
        if len(self._role_index) != len(self.roles):
            raise ValueError("duplicate role")
        self._arm_index = [{arm.model: k for k, arm in enumerate(spec.arms)} for spec in self.roles]
        shape = (len(self.roles), max(len(spec.arms) for spec in self.roles))
        self._exists = np.zeros(shape, dtype=bool)
        self._cost = np.zeros(shape)
        for r, spec in enumerate(self.roles):
            self._exists[r, : len(spec.arms)] = True
            self._cost[r, : len(spec.arms)] = [arm.prior_cost or 0.0 for arm in spec.arms]
        self._demoted = np.zeros(shape, dtype=bool)
        self._over_slo = np.zeros(shape, dtype=bool)
        self._quality_sum = np.zeros(shape)
        self._quality_n = np.zeros(shape)
        self._cost_sum = np.zeros(shape)
        self._cost_n = np.zeros(shape)
        self._cost_weight = np.ones(shape[0])
        self._volume = np.zeros(shape[0])
        self._reference = self._indices(lambda spec: spec.reference)
        self._incumbent = self._indices(lambda spec: spec.current)
        self._pinned = np.array(
            [self._arm_index[r][s.pinned] if s.pinned else -1 for r, s in enumerate(self.roles)]
        )
        self._floor = np.array([np.nan if s.floor is None else s.floor for s in self.roles])
        self._relative_floor = np.array(
            [np.nan if s.relative_floor is None else s.relative_floor for s in self.roles]
        )

    # --- evidence -----------------------------------------------------------------------------
    def observe(self, role: str, model: str, *, cost: float, quality: float | None) -> None:
        """Record one call: its cost in USD and its quality score in [0, 1], if it has one."""
        r, k = self._locate(role, model)
        if quality is not None and not 0.0 <= quality <= 1.0:
            raise ValueError("quality must be in [0, 1]")
        discount = self.config.discount
        if discount < 1.0:
            for evidence in (self._quality_sum, self._quality_n, self._cost_sum, self._cost_n):
                evidence[r] *= discount
        self._cost_sum[r, k] += cost
        self._cost_n[r, k] += 1.0
        self._cost[r, k] = self._cost_sum[r, k] / self._cost_n[r, k]
        if quality is not None:
            self._quality_sum[r, k] += quality
            self._quality_n[r, k] += 1.0
        self._volume[r] += 1.0

    def load(
        self, role: str, model: str, *, n_calls: int, n_quality: int, quality_sum: float, cost_sum: float
    ) -> None:
        """Add aggregated, undiscounted evidence for one arm (e.g. a window from the store)."""
        r, k = self._locate(role, model)
        if n_calls < 0 or not 0 <= n_quality <= n_calls or not 0.0 <= quality_sum <= n_quality:
            raise ValueError(f"inconsistent aggregates for {role!r}/{model!r}")
        self._quality_sum[r, k] += quality_sum
        self._quality_n[r, k] += n_quality
        self._cost_sum[r, k] += cost_sum
        self._cost_n[r, k] += n_calls
        if self._cost_n[r, k] > 0:
            self._cost[r, k] = self._cost_sum[r, k] / self._cost_n[r, k]
        self._volume[r] += n_calls

    def evidence(self, role: str, model: str) -> float:
        """Discounted number of quality observations for (role, model)."""
        r, k = self._locate(role, model)
        return float(self._quality_n[r, k])

    # --- alerts -------------------------------------------------------------------------------
    def demote(self, role: str, model: str) -> None:
        """Quality breach on (role, model): route nothing there until ``restore``."""
        r, k = self._locate(role, model)
        self._demoted[r, k] = True

    def restore(self, role: str, model: str) -> None:
        """The quality breach has recovered: the arm may be used again."""
        r, k = self._locate(role, model)
        self._demoted[r, k] = False

    def is_demoted(self, role: str, model: str) -> bool:
        r, k = self._locate(role, model)
        return bool(self._demoted[r, k])

    # --- latency SLOs -------------------------------------------------------------------------
    def exclude_for_latency(self, role: str, model: str) -> None:
        """(role, model) breaks the role's latency SLO: route nothing there while the role has an
        arm that meets it (after pins and demotions), until ``admit_for_latency``."""
        r, k = self._locate(role, model)
        self._over_slo[r, k] = True

    def admit_for_latency(self, role: str, model: str) -> None:
        r, k = self._locate(role, model)
        self._over_slo[r, k] = False

    def raise_cost_weight(self, role: str, factor: float) -> None:
        """Cost breach in ``role``: its spend counts ``factor`` times more from now on."""
        if factor <= 0:
            raise ValueError("factor must be positive")
        self._cost_weight[self._role_index[role]] *= factor

    def reset_cost_weight(self, role: str) -> None:
        self._cost_weight[self._role_index[role]] = 1.0

    # --- decisions ----------------------------------------------------------------------------
    def choose(
        self, role: str, rng: np.random.Generator, available: Collection[str] | None = None
    ) -> str:
        """Pick the model for one call of ``role``; ``available`` limits the options for this call.

        A pinned role gets its pin. Otherwise, with probability ``control_share`` (and a quality
        target) the call goes to the reference; else to the Thompson-sampled arm -- if the quality
        guards allow it (``config.safety``, see ``recommender.safety``); if not, to the
        incumbent, or (the incumbent being unavailable) to the allowed arm with the best lower bound.
        """
        r = self._role_index[role]
        spec = self.roles[r]
        if self._pinned[r] >= 0:
            return spec.arms[self._pinned[r]].model
        allowed = self._allowed(r, available)
        reference = self._reference[r]
        if (
            self.config.quality_target is not None
            and allowed[r, reference]
            and rng.random() < self.config.control_share
        ):
            return spec.arms[reference].model
        arm = self._sampled_arm(r, allowed, rng)
        if self.config.safety is None or self.guard().allows(r, arm):
            return spec.arms[arm].model
        incumbent = self._incumbent[r]
        if allowed[r, incumbent]:
            return spec.arms[incumbent].model
        low = lower_bound(1.0 + self._quality_sum[r], 1.0 + self._quality_n[r] - self._quality_sum[r],
                          z_score(self.config.safety))
        return spec.arms[int(np.argmax(np.where(allowed[r], low, -np.inf)))].model

    def guard(self) -> Guard:
        """The exploration guards on the current evidence (see ``recommender.safety``)."""
        return Guard(
            graded=self._quality_n,
            served=self._quality_sum,
            alpha=1.0 + self._quality_sum,
            beta=1.0 + self._quality_n - self._quality_sum,
            incumbent=self._incumbent,
            floor=self._floor,
            relative_floor=self._relative_floor,
            online_guard=self.config.guard,
            z=z_score(self.config.safety if self.config.safety is not None else 0.5),
        )

    def recommend(self, rng: np.random.Generator, horizon: Sequence[float] | None = None) -> Recommendation:
        """The policy to commit to now (see ``recommender.decide.recommend``); ``horizon`` is the
        number of new calls per role (in ``roles`` order) it will be judged on."""
        return recommend(self.beliefs(), self.config, rng, None if horizon is None else np.asarray(horizon, float))

    def beliefs(self) -> Beliefs:
        """A frozen snapshot of the posterior state."""
        return Beliefs(
            roles=self.roles,
            exists=self._exists.copy(),
            demoted=self._demoted.copy(),
            over_slo=self._over_slo.copy(),
            quality_sum=self._quality_sum.copy(),
            quality_n=self._quality_n.copy(),
            cost=self._cost.copy(),
            cost_weight=self._cost_weight.copy(),
            volume=self._volume.copy(),
            reference=self._reference,
            incumbent=self._incumbent,
            pinned=self._pinned,
            floor=self._floor,
            relative_floor=self._relative_floor,
            prior_strength=self.config.prior_strength,
        )

    # --- internals ----------------------------------------------------------------------------
    def _sampled_arm(self, r: int, allowed: np.ndarray, rng: np.random.Generator) -> int:
        """Thompson step for role ``r``: sample its arms' quality, price it, take the best value."""
        alpha, beta = posterior(self._quality_sum, self._quality_n, self._exists, self._reference,
                                self.config.prior_strength)
        cost = self._cost_weight[:, None] * self._cost
        draw = rng.beta(alpha[r], beta[r])
        row = slice(r, r + 1)
        feasible = apply_floors(draw[None], allowed[row], self._floor[row], self._relative_floor[row])[0]
        if self.config.quality_target is None:
            return int(np.argmin(np.where(feasible, cost[r], np.inf)))
        mean = alpha / (alpha + beta)
        volume = self._volume + 1.0
        weights = volume / volume.sum()
        reference = mean[np.arange(len(self.roles)), self._reference]
        target = self.config.quality_target * float((weights * reference).sum())
        eligible = apply_floors(mean, allowed, self._floor, self._relative_floor)
        price = quality_price(cost, mean, eligible, weights, target)
        value = np.where(feasible, price * draw - cost[r], -np.inf)
        if self.config.safety is not None:
            value = self._eliminate(r, value, price, cost[r], allowed[r])
        best = value.max()
        return int(np.argmin(np.where(value >= best, cost[r], np.inf)))

    def _eliminate(self, r: int, value: np.ndarray, price: float, cost: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Drop the arms of role ``r`` that are worth less than another at the price of quality even
        at their upper bound than that one at its lower bound: exploring them cannot pay, so the
        guard's budget goes to the arms that might (successive elimination on the Lagrangian value)."""
        z = z_score(self.config.safety or 0.5)
        wins, losses = 1.0 + self._quality_sum[r], 1.0 + self._quality_n[r] - self._quality_sum[r]
        low, high = lower_bound(wins, losses, z), 1.0 - lower_bound(losses, wins, z)
        sure = np.where(allowed, price * low - cost, -np.inf).max()
        kept = np.where(price * high - cost >= sure, value, -np.inf)
        return kept if np.isfinite(kept.max()) else value

    def _allowed(self, r: int, available: Collection[str] | None) -> np.ndarray:
        """Arms each role may take now: pins, demotions and latency SLOs applied (see ``decide._gated``),
        role ``r`` limited to ``available``."""
        allowed = self._exists & ~self._demoted
        for pinned in np.flatnonzero(self._pinned >= 0):
            allowed[pinned] = False
            allowed[pinned, self._pinned[pinned]] = True
        if available is not None:
            unknown = set(available) - self._arm_index[r].keys()
            if unknown:
                raise KeyError(f"role {self.roles[r].role!r} has no arm(s) {sorted(unknown)}")
            offered = np.zeros(allowed.shape[1], dtype=bool)
            offered[[self._arm_index[r][m] for m in available]] = True
            allowed[r] &= offered
            if not allowed[r].any():  # only demoted arms are offered: use them rather than fail
                allowed[r] = self._exists[r] & offered
            if not allowed[r].any():
                raise ValueError(f"no arm available for role {self.roles[r].role!r}")
        empty = ~allowed.any(axis=1)
        allowed[empty] = self._exists[empty]  # every arm demoted: demotion cannot unroute a role
        return within_slo(allowed, self._over_slo)

    def _locate(self, role: str, model: str) -> tuple[int, int]:
        try:
            r = self._role_index[role]
        except KeyError:
            raise KeyError(f"unknown role {role!r}") from None
        try:
            return r, self._arm_index[r][model]
        except KeyError:
            raise KeyError(f"role {role!r} has no arm {model!r}") from None

    def _indices(self, pick: Callable[[RoleSpec], str]) -> np.ndarray:
        return np.array([self._arm_index[r][pick(spec)] for r, spec in enumerate(self.roles)])
