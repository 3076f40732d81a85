"""Latency SLOs in the routing decision: the policy file's `latency_p95_ms`, the cascade's latency
step (pins, then the SLO, then quality, then cost) and what a route says about it. Pure: no engine."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from tierscope.collector.recommender.bandit import RoutingBandit
from tierscope.collector.recommender.canary import with_canaries
from tierscope.collector.recommender.latency import arm_latency
from tierscope.collector.recommender.policy import Policy
from tierscope.collector.recommender.policy_file import PolicyFileError, parse_policy
from tierscope.collector.recommender.stats import ArmStats, recommend_policy
from tierscope.collector.recommender.types import ArmSpec, BanditConfig, RoleSpec

# worker, all on gpt-4o today. Both small models hold its quality; nano is the cheaper, and slow.
FRONTIER = ArmStats("worker", "gpt-4o", "frontier", 1000, 1000, 950.0, Decimal("10.000"), 1.0, 1000, 900, 1400)
NANO = ArmStats("worker", "gpt-4.1-nano", "small", 1000, 1000, 940.0, Decimal("0.300"), 0.0, 1000, 1900, 3120)
MINI = ArmStats("worker", "gpt-4o-mini", "small", 1000, 1000, 940.0, Decimal("0.600"), 0.0, 1000, 700, 1200)
WORKER = [FRONTIER, NANO, MINI]


def recommend(stats: list[ArmStats] = WORKER, **kwargs: object) -> Policy:
    return recommend_policy(stats, np.random.default_rng(0), window_days=7, **kwargs)  # type: ignore[arg-type]


def test_the_cheapest_model_over_the_slo_gives_way_to_the_next_with_the_reason() -> None:
    assert recommend().model_for("worker") == "gpt-4.1-nano"  # no SLO: the cheapest that holds quality
    route = recommend(latency_slos={"worker": 2500.0}).route("worker")
    assert (route.model, route.current_model) == ("gpt-4o-mini", "gpt-4o")
    assert route.reason == ("meets floors and target for less; "
                            "excluded for latency: gpt-4.1-nano p95 3,120 ms > SLO 2,500 ms")
    assert route.latency == {
        "slo_p95_ms": 2500.0, "p50_ms": 700, "p95_ms": 1200, "timed_calls": 1000, "breaks_slo": False,
        "current_p95_ms": 1400, "current_breaks_slo": False,
        "excluded": [{"model": "gpt-4.1-nano", "reason": "gpt-4.1-nano p95 3,120 ms > SLO 2,500 ms"}],
    }
    assert recommend(latency_slos={"worker": 3120.0}).model_for("worker") == "gpt-4.1-nano"  # p95 <= SLO holds


def test_a_pinned_route_over_its_slo_is_kept_and_flagged() -> None:
    route = recommend(pins={"worker": "gpt-4o"}, latency_slos={"worker": 1000.0}).route("worker")
    assert (route.model, route.pinned) == ("gpt-4o", True)
    assert route.latency["breaks_slo"] and route.latency["current_breaks_slo"]
    assert route.latency["excluded"] == []  # the pin decided, not the SLO
    assert route.reason == "compliance pin; kept over the latency SLO (pinned): gpt-4o p95 1,400 ms > SLO 1,000 ms"


def test_with_no_eligible_model_within_the_slo_the_role_is_routed_as_without_it_and_flagged() -> None:
    route = recommend(latency_slos={"worker": 500.0}).route("worker")
    assert route.model == "gpt-4.1-nano" and route.latency["breaks_slo"]
    assert route.reason.endswith("; kept over the latency SLO (no eligible model meets it): "
                                 "gpt-4.1-nano p95 3,120 ms > SLO 500 ms")


def test_a_current_model_over_the_slo_is_left_for_a_dearer_one() -> None:
    slow_current = replace(MINI, current_share=1.0, p95_ms=2600)
    stats = [replace(FRONTIER, current_share=0.0), replace(NANO, p95_ms=2700), slow_current]
    route = recommend(stats, latency_slos={"worker": 2500.0}).route("worker")
    assert (route.model, route.current_model) == ("gpt-4o", "gpt-4o-mini")
    assert route.reason.startswith("current model breaks the latency SLO; excluded for latency: ")
    assert route.latency["current_breaks_slo"] and not route.latency["breaks_slo"]


def test_too_few_timed_calls_keep_a_role_off_a_model_but_never_move_it_off_its_own() -> None:
    # nano's 9 timed calls (min_evidence is 10) say nothing about its p95: the role does not move onto it.
    thin = replace(NANO, timed_calls=9, p95_ms=300)
    route = recommend([FRONTIER, thin, MINI], latency_slos={"worker": 2500.0}).route("worker")
    assert route.model == "gpt-4o-mini"
    assert route.latency["excluded"] == [{"model": "gpt-4.1-nano",
                                          "reason": "gpt-4.1-nano latency unknown: 9 timed calls < 10"}]
    # Today's gpt-4o was never timed (imported spans): unknown is no breach, and the slow models are out.
    untimed = replace(FRONTIER, timed_calls=0, p50_ms=None, p95_ms=None)
    route = recommend([untimed, NANO, replace(MINI, p95_ms=2600)], latency_slos={"worker": 2500.0}).route("worker")
    assert route.model == "gpt-4o" and not route.latency["breaks_slo"] and route.latency["p95_ms"] is None
    rows = arm_latency([untimed, thin], {"worker": 2500.0}, BanditConfig.min_evidence)
    assert [(r["model"], r["slo_state"]) for r in rows] == [("gpt-4.1-nano", "unknown"), ("gpt-4o", "unknown")]
    assert arm_latency([NANO], {}, 10)[0]["slo_state"] is None


def test_a_route_with_latency_round_trips_through_yaml_and_json() -> None:
    policy = recommend(latency_slos={"worker": 2500.0})
    assert policy.route("worker").latency is not None
    assert Policy.from_yaml(policy.to_yaml()) == policy and Policy.from_json(policy.to_json()) == policy


def test_slos_for_a_role_without_stats_are_refused() -> None:
    with pytest.raises(ValueError, match="latency_slos name role"):
        recommend(latency_slos={"critic": 2500.0})


def test_the_online_bandit_skips_an_arm_over_the_slo_unless_nothing_else_is_offered() -> None:
    spec = RoleSpec("worker", (ArmSpec("fast", "mid"), ArmSpec("slow", "small")), reference="fast")
    bandit = RoutingBandit([spec], BanditConfig(quality_target=None))
    bandit.load("worker", "fast", n_calls=100, n_quality=100, quality_sum=95.0, cost_sum=10.0)
    bandit.load("worker", "slow", n_calls=100, n_quality=100, quality_sum=95.0, cost_sum=1.0)
    rng = np.random.default_rng(3)
    assert bandit.choose("worker", rng) == "slow"
    bandit.exclude_for_latency("worker", "slow")
    assert {bandit.choose("worker", rng) for _ in range(50)} == {"fast"}
    assert bandit.choose("worker", rng, available=["slow"]) == "slow"
    assert bandit.recommend(rng).model_for("worker") == "fast"
    bandit.admit_for_latency("worker", "slow")
    assert bandit.choose("worker", rng) == "slow"


def test_no_canary_on_a_model_that_breaks_the_slo() -> None:
    # worker stays on gpt-4o (no cheaper model is graded yet): the canary goes to the best seen one.
    ungraded = [FRONTIER, replace(NANO, n_quality=0, quality_sum=0.0), replace(MINI, n_quality=0, quality_sum=0.0)]
    policy = recommend(ungraded)
    assert policy.model_for("worker") == "gpt-4o"
    picked = with_canaries(policy, ungraded, [], lambda role: 0.8).route("worker").canary
    slowed = with_canaries(policy, ungraded, [], lambda role: 0.8,
                           too_slow={("worker", picked["model"])}).route("worker").canary
    assert slowed is not None and slowed["model"] != picked["model"]
    assert with_canaries(policy, ungraded, [], lambda role: 0.8,
                         too_slow={("worker", "gpt-4.1-nano"), ("worker", "gpt-4o-mini")}).route("worker").canary is None


# --- the routing policy file ----------------------------------------------------------------------

def test_policy_file_reads_a_default_slo_and_a_role_own() -> None:
    policy = parse_policy("latency_p95_ms: 8000\nroles:\n  worker: {latency_p95_ms: 2500}\n  critic: {pinned_model: gpt-4o}\n")
    assert (policy.latency_slo("worker"), policy.latency_slo("critic"), policy.latency_slo("other")) == (2500.0, 8000.0, 8000.0)
    assert parse_policy("roles: {worker: {quality_floor: 0.9}}").latency_slo("worker") is None


@pytest.mark.parametrize(("text", "message"), [
    ("roles: {worker: {latency_p95_ms: 0}}", r"roles\.worker\.latency_p95_ms must be a positive number of milliseconds, got 0"),
    ("roles: {worker: {latency_p95_ms: -5}}", "got -5"),
    ("roles: {worker: {latency_p95_ms: '2500'}}", "got '2500'"),
    ("roles: {worker: {latency_p95_ms: true}}", "got True"),
    ("roles: {worker: {latency_p95_ms: .inf}}", "got inf"),
    ("latency_p95_ms: .nan", r"<policy>: latency_p95_ms must be a positive number"),
    ("roles: {worker: {latency_p99_ms: 2500}}", "unknown key 'latency_p99_ms'; expected allowed_tiers, deadline, latency_p95_ms"),
    ("latency_ms: 2500", "unknown key 'latency_ms'"),
])
def test_policy_file_refuses_a_bad_slo_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(PolicyFileError, match=message):
        parse_policy(text)
