"""Policies built from aggregated (role, model) stats, and their YAML/JSON round trip."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import numpy as np
import pytest
import yaml

from tierscope.collector.recommender.canary import Candidate, Incumbent, plan
from tierscope.collector.recommender.policy import Policy, PolicyError
from tierscope.collector.recommender.stats import ArmStats, QualityFloor, recommend_policy

# planner: today all on gpt-4o (0.92); mini does 0.88 at 6% of the price.
# formatter: today 80/20 gpt-4o/mini; mini does 0.94 vs 0.95.
STATS = [
    ArmStats("planner", "gpt-4o", "frontier", 1000, 1000, 920.0, Decimal("10.000"), 1.0),
    ArmStats("planner", "gpt-4o-mini", "small", 1000, 1000, 880.0, Decimal("0.600"), 0.0),
    ArmStats("formatter", "gpt-4o", "frontier", 3000, 3000, 2850.0, Decimal("30.000"), 0.8),
    ArmStats("formatter", "gpt-4o-mini", "small", 3000, 3000, 2820.0, Decimal("1.800"), 0.2),
]


def recommend(stats: list[ArmStats] = STATS, **kwargs: object) -> Policy:
    return recommend_policy(stats, np.random.default_rng(0), window_days=7, **kwargs)  # type: ignore[arg-type]


def test_recommendation_prices_the_move_in_decimal() -> None:
    policy = recommend(version=4)
    assert policy.as_mapping() == {"planner": "gpt-4o-mini", "formatter": "gpt-4o-mini"}
    planner = policy.route("planner")
    assert planner.tier == "small" and planner.current_model == "gpt-4o" and planner.moved
    assert planner.expected_cost_per_call_usd == Decimal("0.000600000")
    assert planner.current_cost_per_call_usd == Decimal("0.010000000")
    assert planner.monthly_calls == 8571  # 2000 calls in 7 days -> 8571.43 in 30
    # (0.01 - 0.0006) * 2000 * 30 / 7
    assert planner.expected_monthly_saving_usd == Decimal("80.571429")
    formatter = policy.route("formatter")
    assert formatter.current_cost_per_call_usd == Decimal("0.008120000")  # 0.8 * 0.01 + 0.2 * 0.0006
    assert formatter.expected_monthly_saving_usd == Decimal("193.371429")
    assert policy.expected_monthly_saving_usd == Decimal("273.942858")
    assert planner.evidence_n == 1000 and 0.0 <= planner.confidence <= 1.0
    assert policy.version == 4 and policy.quality_target == 0.95


def test_global_target_keeps_the_role_that_cannot_afford_to_drop() -> None:
    # planner mini falls to 0.70: dropping it costs too much quality, dropping formatter does not.
    stats = [STATS[0], ArmStats("planner", "gpt-4o-mini", "small", 1000, 1000, 700.0, Decimal("0.6"), 0.0), *STATS[2:]]
    assert recommend(stats).as_mapping() == {"planner": "gpt-4o", "formatter": "gpt-4o-mini"}


def test_pins_floors_and_demotions_are_honoured() -> None:
    assert recommend(pins={"planner": "gpt-4o"}).as_mapping()["planner"] == "gpt-4o"
    assert recommend(pins={"planner": "gpt-4o"}).route("planner").pinned
    floors = {"planner": QualityFloor(absolute=0.9)}
    assert recommend(floors=floors).as_mapping() == {"planner": "gpt-4o", "formatter": "gpt-4o-mini"}
    assert recommend(demoted=[("formatter", "gpt-4o-mini")]).as_mapping()["formatter"] == "gpt-4o"
    relative = {"formatter": QualityFloor(relative=0.995)}  # 0.94 < 0.995 * 0.95
    assert recommend(floors=relative).as_mapping()["formatter"] == "gpt-4o"


def test_too_little_evidence_keeps_the_current_model() -> None:
    thin = ArmStats("planner", "gpt-4o-mini", "small", 25, 25, 24.0, Decimal("0.015"), 0.0)
    policy = recommend([STATS[0], thin, *STATS[2:]], min_evidence=30)
    assert policy.model_for("planner") == "gpt-4o"
    assert policy.route("planner").expected_monthly_saving_usd == Decimal("0.000000")
    assert "below minimum evidence" in policy.route("planner").reason


def test_unpriced_current_routing_gives_no_saving() -> None:
    # Today's planner traffic goes to a model with no priced calls in the window.
    new_model = ArmStats("planner", "brand-new", "small", 0, 0, 0.0, Decimal(0), 1.0)
    was_current = ArmStats("planner", "gpt-4o", "frontier", 1000, 1000, 920.0, Decimal("10.000"), 0.0)
    policy = recommend([new_model, was_current, *STATS[1:]])
    assert policy.route("planner").current_model == "brand-new"
    assert policy.route("planner").current_cost_per_call_usd is None
    assert policy.route("planner").expected_monthly_saving_usd is None
    assert policy.expected_monthly_saving_usd == policy.route("formatter").expected_monthly_saving_usd


def test_yaml_and_json_round_trip_exactly() -> None:
    stamp = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    policy = recommend(version=9, generated_at=stamp)
    assert Policy.from_yaml(policy.to_yaml()) == policy
    assert Policy.from_json(policy.to_json()) == policy
    document = yaml.safe_load(policy.to_yaml())
    assert document["schema"] == "tierscope.policy/v1"
    assert document["routes"][0]["expected_monthly_saving_usd"] == "80.571429"  # a string: exact money
    assert document["generated_at"] == "2025-03-01T12:00:00+00:00"
    canary = {"model": "m", "state": "proposed", "share": 0.05, "monthly_saving_if_holds_usd": "1.000000"}
    unknown = replace(policy, routes=(replace(policy.routes[0], confidence=None, canary=canary), *policy.routes[1:]))
    assert Policy.from_yaml(unknown.to_yaml()) == unknown and Policy.from_json(unknown.to_json()) == unknown


def test_canary_plan_sizes_the_share_the_calls_and_the_worst_case() -> None:
    incumbent = Incumbent("big", n_quality=100, quality_sum=90.0, cost_per_call_usd=Decimal("0.01"), monthly_calls=3000)
    fresh = plan(Candidate("worker", "small", "small", "acme", "policy file", Decimal("0.001")), incumbent, 0.855)
    assert (fresh["state"], fresh["share"], fresh["graded_calls_needed"], fresh["role_calls_until_decision"]) == (
        "proposed", 0.05, 275, 5500)
    assert fresh["days_until_decision"] == 55.0 and fresh["monthly_saving_if_holds_usd"] == "27.000000"
    assert fresh["worst_case_quality_drop"] == 0.045 and fresh["worst_case_extra_cost_usd"] == "0.275000"
    good = plan(Candidate("worker", "small", "small", "acme", "policy file", Decimal("0.001"), 300, 285.0), incumbent, 0.855)
    bad = plan(Candidate("worker", "small", "small", "acme", "policy file", Decimal("0.001"), 40, 20.0), incumbent, 0.855)
    assert (good["state"], good["graded_calls_remaining"], bad["state"]) == ("promote", 0, "stay")
    unpriced = plan(Candidate("worker", "x", "small", "", "seen for the role", None), incumbent, 0.855)
    assert unpriced["monthly_saving_if_holds_usd"] is None and unpriced["worst_case_extra_cost_usd"] is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: other/v1\n", "schema"),
        ("- 1\n", "mapping"),
        ("schema: tierscope.policy/v1\nroutes: []\n", "version"),
        ("schema: tierscope.policy/v1\nversion: 1\ntarget_probability: 1\nexpected_quality_ratio: 1\n"
         "routes: [{role: a, colour: red}]\n", "colour"),
        ("schema: tierscope.policy/v1\nversion: 1\ntarget_probability: 1\nexpected_quality_ratio: 1\n"
         "routes: [{role: a, expected_cost_per_call_usd: lots}]\n", "bad value"),
        ("schema: [unclosed\n", "not YAML"),
    ],
)
def test_malformed_policy_is_rejected_with_a_named_field(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Policy.from_yaml(text)


def test_inconsistent_stats_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        recommend([STATS[0], STATS[0]])
    with pytest.raises(ValueError, match="no arm"):
        recommend(pins={"planner": "claude"})
    with pytest.raises(ValueError, match="without stats"):
        recommend(pins={"critic": "gpt-4o"})
    with pytest.raises(ValueError, match="inconsistent"):
        recommend([ArmStats("planner", "gpt-4o", "frontier", 10, 20, 5.0, Decimal(1), 1.0)])
