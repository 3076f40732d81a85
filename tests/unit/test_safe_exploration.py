"""Conservative exploration, the new-prompt gap in the stated chance, and its calibration report."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tierscope.collector.recommender.bandit import RoutingBandit
from tierscope.collector.recommender.calibration import calibration
from tierscope.collector.recommender.decide import posterior
from tierscope.collector.recommender.safety import lower_bound, z_score
from tierscope.collector.recommender.types import ArmSpec, BanditConfig, RoleSpec

# frontier 0.90 @10 (incumbent), good 0.88 @1, bad 0.30 @0.5: the guard is 0.95 x 0.90 = 0.855.
TRUTH = {"frontier": (10.0, 0.9), "good": (1.0, 0.88), "bad": (0.5, 0.3)}


def worker(**rules: object) -> RoleSpec:
    arms = tuple(ArmSpec(m, "frontier" if m == "frontier" else "small") for m in TRUTH)
    return RoleSpec("worker", arms, reference="frontier", **rules)  # type: ignore[arg-type]


def walk(config: BanditConfig, calls: int, seed: int, spec: RoleSpec | None = None) -> tuple[list[str], list[float]]:
    rng = np.random.default_rng(seed)
    bandit = RoutingBandit([spec or worker()], config)
    picks, scores = [], []
    for _ in range(calls):
        model = bandit.choose("worker", rng)
        cost, quality = TRUTH[model]
        score = float(rng.random() < quality)
        bandit.observe("worker", model, cost=cost, quality=score)
        picks.append(model)
        scores.append(score)
    return picks, scores


def test_starts_on_the_incumbent_and_moves_as_evidence_allows() -> None:
    picks, scores = walk(BanditConfig(quality_target=0.95), 3000, seed=1)
    assert set(picks[:10]) == {"frontier"}  # no budget yet: a new arm costs almost a whole call
    first_good = picks.index("good")
    assert 10 <= first_good <= 200
    assert Counter(picks[-1000:])["good"] >= 900  # trust earned: the cheap good arm takes the traffic
    assert Counter(picks)["bad"] <= 30  # the bad arm is tried, then eliminated
    running = np.cumsum(scores) / np.arange(1, len(scores) + 1)
    assert running[100:].min() >= 0.95 * 0.9 - 0.02  # the running quality keeps (about) its guard


def test_free_exploration_pays_with_the_users_answers() -> None:
    safe = [np.mean(walk(BanditConfig(quality_target=0.95), 400, seed)[1]) for seed in range(6)]
    free = [np.mean(walk(BanditConfig(quality_target=0.95, safety=None), 400, seed)[1]) for seed in range(6)]
    assert min(safe) >= 0.83 and np.mean(safe) > np.mean(free)
    counts = Counter(m for seed in range(6) for m in walk(BanditConfig(quality_target=0.95, safety=None), 400, seed)[0])
    safe_counts = Counter(m for seed in range(6) for m in walk(BanditConfig(quality_target=0.95), 400, seed)[0])
    assert safe_counts["bad"] < counts["bad"]


def test_a_role_floor_holds_the_role_s_own_traffic() -> None:
    # No overall target, an absolute floor of 0.87: "good" (0.88) may take calls only while the
    # graded traffic stays above 0.87, "bad" almost never.
    picks, scores = walk(BanditConfig(quality_target=None), 1500, seed=3, spec=worker(floor=0.87))
    assert Counter(picks)["bad"] <= 15
    assert np.mean(scores[200:]) >= 0.86


def test_lower_bound_and_z() -> None:
    assert z_score(0.05) == pytest.approx(1.6449, abs=1e-4)
    low = lower_bound(np.array([1.0, 91.0]), np.array([1.0, 11.0]), 1.6449)
    assert low[0] == pytest.approx(0.5 - 1.6449 * np.sqrt(1 / 12), abs=1e-9) and 0.83 < low[1] < 0.88


def test_shrinkage_pulls_a_lucky_few_towards_the_role() -> None:
    quality_sum = np.array([[90.0, 9.0, 30.0]])
    quality_n = np.array([[100.0, 10.0, 100.0]])
    alpha, beta = posterior(quality_sum, quality_n, np.ones((1, 3), bool), np.array([0]), strength=10.0)
    mean = alpha / (alpha + beta)
    pooled = 39.0 / 110.0  # the non-reference arms together
    assert mean[0, 1] == pytest.approx((1 + 10 * pooled + 9) / (2 + 10 + 10))
    assert mean[0, 1] < 0.65  # 9 of 10 is mostly luck among many candidates
    assert mean[0, 0] == pytest.approx((1 + 10 * pooled + 90) / (2 + 10 + 100))


def test_the_chance_counts_the_gap_to_new_prompts() -> None:
    # A cheap arm that meets the target on average, with plenty of evidence: sure over 100,000 new
    # calls, a coin flip nearer the edge over 50.
    role = RoleSpec("worker", (ArmSpec("frontier", "frontier"), ArmSpec("mid", "mid")), reference="frontier")

    def chance(horizon: float) -> float:
        bandit = RoutingBandit([role], BanditConfig(quality_target=0.95, confidence=0.0, prior_strength=0.0))
        bandit.load("worker", "frontier", n_calls=20000, n_quality=20000, quality_sum=18000.0, cost_sum=2e5)
        bandit.load("worker", "mid", n_calls=20000, n_quality=20000, quality_sum=17250.0, cost_sum=2e4)
        recommendation = bandit.recommend(np.random.default_rng(0), [horizon])
        assert recommendation.model_for("worker") == "mid"
        return recommendation.target_probability

    many, few = chance(100_000), chance(50)
    assert many >= 0.95 and 0.4 <= few <= 0.75


def test_calibration_report() -> None:
    report = calibration([0.9, 0.9, 0.6, 1.0], [True, False, True, True])
    assert report["runs"] == 4 and report["mean_claimed"] == 0.85 and report["observed_rate"] == 0.75
    assert report["gap"] == pytest.approx(0.1) and report["brier"] == pytest.approx((0.01 + 0.81 + 0.16 + 0) / 4)
    bands = {(b["claimed_from"], b["claimed_to"]): (b["runs"], b["met"]) for b in report["bands"]}
    assert bands == {(0.0, 0.5): (0, 0), (0.5, 0.8): (1, 1), (0.8, 0.95): (2, 1), (0.95, 1.0): (1, 1)}
    with pytest.raises(ValueError):
        calibration([], [])
    with pytest.raises(ValueError):
        calibration([1.2], [True])
