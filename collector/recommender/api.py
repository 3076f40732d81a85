"""`GET /api/v1/recommend`: the recommended routing policy from the store's own telemetry.

Per role, per model aggregates over a window become bandit evidence; the routing policy file's
pins are honoured and so are its latency SLOs (on the p50/p95 span duration of each (role, model),
in ``arm_latency``); a firing quality alert scoped to (role, model) demotes that model and a firing
cost alert on a role raises that role's cost weight, so alerts change the recommendation. Beside
it, ``offpolicy``: the recommended policy's cost and quality per call estimated from router-logged
spans (inverse propensity scoring), with n and a confidence interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Any

import numpy as np

from tierscope import clock
from tierscope.collector.read.params import parse_int, scope
from tierscope.collector.read.spend import spend_by
from tierscope.collector.alerts.api import list_alerts
from tierscope.collector.offpolicy.api import offpolicy_report
from tierscope.collector.pricing.prices import Pricer, PricesFileError, load_overrides
from tierscope.collector.read.misrouted import misrouted_report
from tierscope.collector.recommender.canary import with_canaries
from tierscope.collector.recommender.latency import arm_latency
from tierscope.collector.recommender.policy_file import PolicyFileError, load_policy
from tierscope.collector.recommender.stats import QualityFloor, recommend_policy
from tierscope.collector.recommender.types import ArmStats, BanditConfig
from tierscope.collector.store import rollup
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import BadParameter
from tierscope.terms import DEFAULT_QUALITY_TARGET

COST_ALERT_WEIGHT = 2.0


def _firing(store: Store, tenant: str) -> tuple[set[tuple[str, str]], dict[str, float], list[dict[str, Any]]]:
    listed = list_alerts(store, {}, tenant)
    demoted, weights, firing = set(), {}, []
    for rule in listed["rules"]:
        if not rule["armed"]:
            continue
        if rule["state"]["quality"] == "fired" and rule["role"] and rule["model"]:
            demoted.add((rule["role"], rule["model"]))
            firing.append({"rule_id": rule["rule_id"], "side": "quality", "role": rule["role"], "model": rule["model"]})
        if rule["state"]["cost"] == "fired" and rule["role"]:
            weights[rule["role"]] = COST_ALERT_WEIGHT
            firing.append({"rule_id": rule["rule_id"], "side": "cost", "role": rule["role"]})
    return demoted, weights, firing


def arm_stats(store: Store, q: Mapping[str, Any], tenant: str) -> list[ArmStats]:
    params = scope(q, tenant)
    # spend from the rollup where current, latency from the spans (percentiles are not additive), side by side
    rows, timed_rows = rollup.together(partial(spend_by, store, {**params, "by": ["role", "model", "tier"]}),
                                       partial(store.query, "arm_latency", params))
    rows = [r for r in rows if r["g_role"] and r["g_model"] and r["unpriced_spans"] < r["spans"]]
    timing = {(t["role"], t["model"]): t for t in timed_rows}
    per_role: dict[str, int] = {}
    for r in rows:
        per_role[r["g_role"]] = per_role.get(r["g_role"], 0) + int(r["spans"])
    stats = []
    for r in rows:
        timed = timing.get((r["g_role"], r["g_model"]))
        n_timed = int(timed["timed_calls"]) if timed else 0
        p50, p95 = (int(ms) for ms in timed["duration_ms"]) if timed and n_timed else (None, None)
        stats.append(ArmStats(role=r["g_role"], model=r["g_model"], tier=r["g_tier"], n_calls=int(r["spans"]),
                              n_quality=int(r["quality_n"]),
                              quality_sum=float(r["quality_mean"] or 0.0) * int(r["quality_n"]),
                              cost_sum_usd=r["cost_usd"], current_share=int(r["spans"]) / per_role[r["g_role"]],
                              timed_calls=n_timed, p50_ms=p50, p95_ms=p95))
    return stats


def recommend(store: Store, q: Mapping[str, Any], tenant: str, *, policy_file: str,
              prices_file: str = "") -> dict[str, Any]:
    """GET /api/v1/recommend: the policy over the evidence window, respecting the policy file's pins and floors."""
    days = parse_int("window_days", q.get("window_days"), 30, 1, 365)
    now = clock.now()
    # The window starts on the hour, as the dashboard's relative ranges do: whole hours come from the
    # hourly rollup, so only the open hour is read span by span (not a ragged hour at the start too).
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    window = {**q, "since": q.get("since") or start.isoformat(),
              "until": q.get("until") or now.isoformat()}
    try:
        target = float(q.get("quality_target", DEFAULT_QUALITY_TARGET))
    except ValueError:
        raise BadParameter("quality_target must be a number in (0, 1]") from None
    if not 0 < target <= 1:
        raise BadParameter("quality_target must be a number in (0, 1]")
    try:
        routing = load_policy(policy_file)
    except PolicyFileError as exc:
        raise BadParameter(str(exc)) from None
    try:
        pricer = Pricer(load_overrides(prices_file))
    except PricesFileError as exc:
        raise BadParameter(f"price overrides: {exc}") from None
    stats, (demoted, weights, firing), misrouted = rollup.together(
        partial(arm_stats, store, window, tenant), partial(_firing, store, tenant),
        partial(misrouted_report, store, tenant, window, routing, pricer))
    roles = {s.role for s in stats}
    pins = {role: p.pinned_model for role, p in routing.roles.items() if p.pinned_model and role in roles}
    # A floor written on a role in the policy file binds the recommendation too, not only misrouted
    # and the canaries: no arm below it is recommended for that role.
    floors = {role: QualityFloor(absolute=p.quality_floor) for role, p in routing.roles.items()
              if p.quality_floor is not None and role in roles}
    weights = {r: w for r, w in weights.items() if r in roles}
    slos = {role: slo for role in roles if (slo := routing.latency_slo(role)) is not None}
    if not stats:
        return {"policy": None, "routes": [], "firing_alerts": firing,
                "message": "no priced LLM spans with a role in the window yet"}
    policy = recommend_policy(stats, np.random.default_rng(parse_int("seed", q.get("seed"), 0, 0, 2**31)),
                              quality_target=target, pins=pins, demoted=demoted, cost_weights=weights,
                              floors=floors, latency_slos=slos, window_days=float(days), generated_at=now)
    misrouted_rows = misrouted["rows"]
    latency = arm_latency(stats, slos, BanditConfig.min_evidence)
    too_slow = {(a["role"], a["model"]) for a in latency if a["slo_state"] == "broken"}
    policy = with_canaries(policy, stats, misrouted_rows, routing.floor, too_slow=too_slow)
    offpolicy = offpolicy_report(store, scope(window, tenant), policy.as_mapping())
    unknown = sorted(r.role for r in policy.routes if r.canary and r.confidence is None)
    return {**policy.to_dict(), "unknown_roles": unknown, "demoted": [list(d) for d in sorted(demoted)], "firing_alerts": firing,
            "arm_latency": latency,
            "offpolicy": offpolicy, "yaml": policy.to_yaml()}
