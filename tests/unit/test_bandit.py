"""The routing bandit on synthetic arms with known means (fixed numpy seeds, exact expectations)."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from tierscope.collector.recommender.bandit import RoutingBandit
from tierscope.collector.recommender.price import quality_price, role_choices
from tierscope.collector.recommender.solver import cheapest_assignment, pareto_front
from tierscope.collector.recommender.types import ArmSpec, BanditConfig, RoleSpec

# One role, four arms: (cost per call, true quality). Floor 0.8 -> "mid" is the cheapest that meets it.
ARMS = {"small": (1.0, 0.6), "mid": (2.0, 0.86), "large": (5.0, 0.9), "frontier": (10.0, 0.97)}


def one_role(**role: object) -> RoleSpec:
    arms = tuple(ArmSpec(model, "frontier" if model == "frontier" else "mid") for model in ARMS)
    return RoleSpec(role="worker", arms=arms, reference="frontier", **role)  # type: ignore[arg-type]


def serve(bandit: RoutingBandit, role: str, truth: dict[str, tuple[float, float]], calls: int,
          rng: np.random.Generator) -> list[str]:
    """Route ``calls`` calls, observing Bernoulli quality from ``truth``; returns the picks."""
    picks = []
    for _ in range(calls):
        model = bandit.choose(role, rng)
        cost, quality = truth[model]
        bandit.observe(role, model, cost=cost, quality=float(rng.random() < quality))
        picks.append(model)
    return picks


def test_converges_to_cheapest_arm_meeting_the_floor() -> None:
    rng = np.random.default_rng(7)
    bandit = RoutingBandit([one_role(floor=0.8)], BanditConfig(quality_target=None))
    picks = serve(bandit, "worker", ARMS, 3000, rng)
    late = Counter(picks[-500:])
    assert late.most_common(1)[0][0] == "mid"
    assert late["mid"] >= 450
    assert bandit.recommend(rng).model_for("worker") == "mid"


def test_global_target_spends_quality_where_it_is_cheapest() -> None:
    # planner: frontier 0.90 @10, mid 0.80 @1.   formatter: frontier 0.90 @10, small 0.90 @0.1.
    # Overall target 0.9 x 0.90 = 0.81: (mid, small) averages 0.85, so the planner may drop below
    # 0.81 because the formatter has quality to spare; a per-role rule cannot see that.
    truth = {
        "planner": {"frontier": (10.0, 0.9), "mid": (1.0, 0.8)},
        "formatter": {"frontier": (10.0, 0.9), "small": (0.1, 0.9)},
    }

    def specs(relative_floor: float | None) -> list[RoleSpec]:
        return [
            RoleSpec(role, tuple(ArmSpec(m, m) for m in arms), reference="frontier", relative_floor=relative_floor)
            for role, arms in truth.items()
        ]

    rng = np.random.default_rng(3)
    bandit = RoutingBandit(specs(None), BanditConfig(quality_target=0.9))
    picks: dict[str, list[str]] = {"planner": [], "formatter": []}
    for _ in range(2500):
        for role in truth:
            picks[role] += serve(bandit, role, truth[role], 1, rng)
    assert bandit.recommend(rng).as_mapping() == {"planner": "mid", "formatter": "small"}
    assert Counter(picks["planner"][-500:]).most_common(1)[0][0] == "mid"

    per_role = RoutingBandit(specs(0.9), BanditConfig(quality_target=None))
    for role, arms in truth.items():
        for model, (cost, quality) in arms.items():
            per_role.load(role, model, n_calls=2000, n_quality=2000, quality_sum=2000 * quality, cost_sum=2000 * cost)
    assert per_role.recommend(rng).as_mapping() == {"planner": "frontier", "formatter": "small"}


def test_pinned_role_is_never_moved() -> None:
    rng = np.random.default_rng(11)
    bandit = RoutingBandit([one_role(floor=0.8, pinned="large")], BanditConfig(quality_target=0.95))
    for model, (cost, quality) in ARMS.items():  # plenty of evidence that "mid" would do
        bandit.load("worker", model, n_calls=1000, n_quality=1000, quality_sum=1000 * quality, cost_sum=1000 * cost)
    assert set(serve(bandit, "worker", ARMS, 300, rng)) == {"large"}  # no control calls either
    bandit.demote("worker", "large")  # a quality alert does not override a compliance pin
    choice = bandit.recommend(rng).choices[0]
    assert (choice.model, choice.pinned, choice.moved, choice.reason) == ("large", True, False, "compliance pin")


def test_pinned_role_still_counts_toward_the_global_target() -> None:
    # critic: frontier 0.90 @10, small 0.85 @1.  worker: frontier 0.90 @12, mid 0.84 @1.  Target 0.855.
    # Free, the cheapest mix is (frontier, mid); with the critic pinned to small the worker must
    # carry the quality and stay on frontier.
    evidence = [("critic", "frontier", 10, 0.9), ("critic", "small", 1, 0.85),
                ("worker", "frontier", 12, 0.9), ("worker", "mid", 1, 0.84)]

    def recommended(pin: str | None) -> dict[str, str]:
        specs = [
            RoleSpec("critic", (ArmSpec("frontier", "frontier"), ArmSpec("small", "small")), "frontier", pinned=pin),
            RoleSpec("worker", (ArmSpec("frontier", "frontier"), ArmSpec("mid", "mid")), "frontier"),
        ]
        bandit = RoutingBandit(specs, BanditConfig(quality_target=0.95, min_evidence=10))
        for role, model, cost, quality in evidence:
            bandit.load(role, model, n_calls=3000, n_quality=3000, quality_sum=3000 * quality, cost_sum=3000 * cost)
        return bandit.recommend(np.random.default_rng(0)).as_mapping()

    assert recommended(None) == {"critic": "frontier", "worker": "mid"}
    assert recommended("small") == {"critic": "small", "worker": "frontier"}


WINDOW = 200  # forgetting window, in calls of the role


def test_reacts_to_drift_within_the_forgetting_window() -> None:
    before = {"cheap": (1.0, 0.95), "steady": (2.0, 0.9), "frontier": (10.0, 0.97)}
    after = {**before, "cheap": (1.0, 0.5)}
    role = RoleSpec("worker", tuple(ArmSpec(m, m) for m in before), reference="frontier", floor=0.8)

    def recommendations(config: BanditConfig) -> tuple[str, list[str]]:
        rng = np.random.default_rng(5)
        bandit = RoutingBandit([role], config)
        serve(bandit, "worker", before, 1000, rng)
        settled = bandit.recommend(rng).model_for("worker")
        seen = []
        for _ in range(WINDOW // 10):
            serve(bandit, "worker", after, 10, rng)
            seen.append(bandit.recommend(rng).model_for("worker"))
        return settled, seen

    settled, seen = recommendations(BanditConfig(quality_target=None, window=WINDOW, samples=32))
    assert settled == "cheap"
    switch = (seen.index(next(m for m in seen if m != "cheap")) + 1) * 10
    assert switch <= WINDOW
    assert seen[-1] == "steady"
    assert "cheap" not in seen[switch // 10 :]
    # Without forgetting, 1000 good calls outweigh 200 bad ones: still "cheap" after a window.
    settled, seen = recommendations(BanditConfig(quality_target=None, window=None, samples=32))
    assert settled == "cheap" and seen[-1] == "cheap"


def test_quality_alert_demotion_changes_the_recommendation_until_restored() -> None:
    rng = np.random.default_rng(2)
    bandit = RoutingBandit([one_role(floor=0.8)], BanditConfig(quality_target=None))
    for model, (cost, quality) in ARMS.items():
        bandit.load("worker", model, n_calls=500, n_quality=500, quality_sum=500 * quality, cost_sum=500 * cost)
    assert bandit.recommend(rng).model_for("worker") == "mid"
    bandit.demote("worker", "mid")
    assert bandit.is_demoted("worker", "mid")
    assert bandit.recommend(rng).model_for("worker") == "large"
    assert "mid" not in serve(bandit, "worker", ARMS, 200, rng)
    bandit.restore("worker", "mid")
    assert bandit.recommend(rng).model_for("worker") == "mid"


def test_cost_alert_moves_the_quality_budget_away_from_the_role() -> None:
    specs = [RoleSpec(r, (ArmSpec("frontier", "frontier"), ArmSpec("mid", "mid")), "frontier") for r in ("a", "b")]
    bandit = RoutingBandit(specs, BanditConfig(quality_target=0.95, min_evidence=10))
    # Both roles: frontier 0.90, mid 0.85 @2. Frontier costs 8 in "a", 10 in "b". One role must stay
    # on frontier (two mids average 0.85 < 0.855): the cheaper one to keep there is "a".
    for role, frontier_cost in (("a", 8.0), ("b", 10.0)):
        bandit.load(role, "frontier", n_calls=4000, n_quality=4000, quality_sum=3600.0, cost_sum=4000 * frontier_cost)
        bandit.load(role, "mid", n_calls=4000, n_quality=4000, quality_sum=3400.0, cost_sum=8000.0)
    assert bandit.recommend(np.random.default_rng(0)).as_mapping() == {"a": "frontier", "b": "mid"}
    bandit.raise_cost_weight("a", 3.0)  # a's spend now counts triple: keep "b" on frontier instead
    assert bandit.recommend(np.random.default_rng(0)).as_mapping() == {"a": "mid", "b": "frontier"}
    bandit.reset_cost_weight("a")
    assert bandit.recommend(np.random.default_rng(0)).as_mapping() == {"a": "frontier", "b": "mid"}


def test_no_move_before_minimum_evidence() -> None:
    rng = np.random.default_rng(4)
    role = RoleSpec("worker", (ArmSpec("cheap", "small"), ArmSpec("frontier", "frontier")), reference="frontier", floor=0.8)
    bandit = RoutingBandit([role], BanditConfig(quality_target=None, min_evidence=20))
    bandit.load("worker", "frontier", n_calls=500, n_quality=500, quality_sum=475.0, cost_sum=5000.0)
    switched_at = None
    for n in range(1, 31):
        bandit.observe("worker", "cheap", cost=1.0, quality=0.9)
        choice = bandit.recommend(rng).choices[0]
        if n < 20:
            assert choice.model == "frontier"
            assert "below minimum evidence" in choice.reason
        elif switched_at is None and choice.model == "cheap":
            switched_at = n
    assert switched_at == 20


def test_choose_respects_available_models_and_is_deterministic() -> None:
    def run(seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        bandit = RoutingBandit([one_role(floor=0.8)], BanditConfig(quality_target=0.95))
        picks = []
        for _ in range(300):
            model = bandit.choose("worker", rng, available=["small", "large", "frontier"])
            cost, quality = ARMS[model]
            bandit.observe("worker", model, cost=cost, quality=float(rng.random() < quality))
            picks.append(model)
        return picks

    assert "mid" not in run(1)
    assert run(1) == run(1)
    with pytest.raises(KeyError):
        RoutingBandit([one_role()]).choose("worker", np.random.default_rng(0), available=["nope"])


def test_forgetting_discounts_evidence() -> None:
    bandit = RoutingBandit([one_role()], BanditConfig(window=10))
    for _ in range(100):
        bandit.observe("worker", "mid", cost=2.0, quality=1.0)
    assert bandit.evidence("worker", "mid") == pytest.approx(10.0, rel=1e-3)  # sum of 0.9^k -> 10


def test_pareto_solver_is_exact_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        roles, arms = rng.integers(1, 5), rng.integers(1, 6)
        cost, quality = rng.random((roles, arms)), rng.random((roles, arms))
        allowed = rng.random((roles, arms)) < 0.8
        allowed[np.arange(roles), rng.integers(0, arms, roles)] = True
        target = np.where(allowed, quality, 0).max(axis=1).sum() * rng.uniform(0.3, 1.0)
        options = [
            (cost[np.arange(roles), combo].sum(), combo)
            for combo in itertools.product(range(arms), repeat=roles)
            if allowed[np.arange(roles), combo].all() and quality[np.arange(roles), combo].sum() >= target
        ]
        chosen = cheapest_assignment(cost, quality, allowed, target)
        assert cost[np.arange(roles), chosen].sum() == pytest.approx(min(options)[0])
        front = pareto_front(cost, quality, allowed)
        assert np.all(np.diff(front.cost) >= 0) and np.all(np.diff(front.quality) > 0)


def test_quality_price_sits_inside_the_interval_that_meets_the_target() -> None:
    cost = np.array([[1.0, 2.0, 10.0], [1.0, 5.0, 10.0]])
    quality = np.array([[0.5, 0.8, 0.9], [0.6, 0.7, 0.95]])
    allowed = np.ones_like(cost, dtype=bool)
    weights = np.array([0.5, 0.5])
    price = quality_price(cost, quality, allowed, weights, target=0.8)
    # Role 2 jumps 0.6 -> 0.95 at 9/0.35 = 25.7; role 1 moves on again at 80/1 ... next breakpoint 40.
    assert 9 / 0.35 < price < 40
    assert role_choices(price, cost, quality, allowed).tolist() == [1, 2]
    assert quality_price(cost, quality, allowed, weights, target=0.5) == 0.0


def test_pareto_front_thinning_keeps_the_best_state_and_stays_bounded() -> None:
    rng = np.random.default_rng(1)
    cost, quality = rng.random((12, 6)), rng.random((12, 6))
    allowed = np.ones_like(cost, dtype=bool)
    full = pareto_front(cost, quality, allowed)
    thin = pareto_front(cost, quality, allowed, max_states=40)
    assert full.cost.size > 40 >= thin.cost.size - 1
    assert thin.quality[-1] == pytest.approx(quality.max(axis=1).sum())
    assert thin.cost[0] == pytest.approx(cost.min(axis=1).sum())


def test_unreachable_target_buys_all_the_quality_there_is() -> None:
    cost = np.array([[1.0, 2.0, 3.0]])
    quality = np.array([[0.5, 0.6, 0.7]])
    allowed = np.ones_like(cost, dtype=bool)
    price = quality_price(cost, quality, allowed, np.array([1.0]), target=0.9)
    assert role_choices(price, cost, quality, allowed).tolist() == [2]


def test_volume_weights_decide_where_the_quality_budget_goes() -> None:
    # "bulk" carries 90% of calls, "rare" 10%. Target 0.95 x 0.90 = 0.855 overall: only keeping
    # the bulk role on frontier can meet it (0.9 * 0.9 + 0.1 * 0.5 = 0.86); with equal weights
    # that mix would only reach 0.70.
    specs = [
        RoleSpec("bulk", (ArmSpec("frontier", "frontier"), ArmSpec("mid", "mid")), "frontier"),
        RoleSpec("rare", (ArmSpec("frontier", "frontier"), ArmSpec("small", "small")), "frontier"),
    ]
    bandit = RoutingBandit(specs, BanditConfig(quality_target=0.95, min_evidence=10))
    for role, model, calls, cost, quality in [("bulk", "frontier", 9000, 10, 0.9), ("bulk", "mid", 9000, 1, 0.8),
                                              ("rare", "frontier", 1000, 10, 0.9), ("rare", "small", 1000, 0.1, 0.5)]:
        bandit.load(role, model, n_calls=calls, n_quality=calls, quality_sum=calls * quality, cost_sum=calls * cost)
    assert bandit.recommend(np.random.default_rng(0)).as_mapping() == {"bulk": "frontier", "rare": "small"}


def test_certainty_premium_buys_a_surer_policy_for_a_little_more() -> None:
    # "thin": 35 calls at 0.94, cost 1.00 -- probably meets 0.95 x 0.95; "solid": 5000 calls at 0.93,
    # cost 1.05 -- surely does. A 10% premium buys the sure one; no premium takes the cheap gamble.
    role = RoleSpec("worker", (ArmSpec("frontier", "frontier"), ArmSpec("thin", "mid"), ArmSpec("solid", "mid")),
                    reference="frontier")

    def recommended(premium: float) -> tuple[str, float]:
        config = BanditConfig(quality_target=0.95, certainty_premium=premium, confidence=0.5, prior_strength=0.0)
        bandit = RoutingBandit([role], config)
        bandit.load("worker", "frontier", n_calls=5000, n_quality=5000, quality_sum=4750.0, cost_sum=50000.0)
        bandit.load("worker", "thin", n_calls=35, n_quality=35, quality_sum=32.9, cost_sum=35.0)
        bandit.load("worker", "solid", n_calls=5000, n_quality=5000, quality_sum=4650.0, cost_sum=5250.0)
        recommendation = bandit.recommend(np.random.default_rng(0))
        return recommendation.model_for("worker"), recommendation.target_probability

    cheap, cheap_probability = recommended(0.0)
    sure, sure_probability = recommended(0.1)
    assert (cheap, sure) == ("thin", "solid")
    assert 0.5 <= cheap_probability < 0.9 < sure_probability
