"""The off-policy estimate shown beside the recommendation (``GET /api/v1/recommend``, CLI, dashboard).

Reads the router-logged decisions of the window through the named query ``offpolicy_decisions``
and estimates the recommended policy's cost and quality per call with ``offpolicy.estimate_policy``.
Costs are decimal strings (nano-dollar precision) like every amount the API returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tierscope.collector.read.rows import money
from tierscope.collector.offpolicy.estimate import Interval, LoggedArm, estimate_policy
from tierscope.collector.store.clickhouse import Store

NO_ROUTER_SPANS = "no router-logged spans yet: use tierscope.instrumentation.Router to log propensities"
_NANO = Decimal("0.000000001")


def logged_arms(store: Store, window: Mapping[str, Any]) -> tuple[list[LoggedArm], list[str]]:
    """The window's logged decisions as ``LoggedArm`` sums, and the policy versions that made them."""
    if not store.query("offpolicy_any", {k: window[k] for k in ("tenant", "since", "until")})[0]["routed"]:
        return [], []
    rows = store.query("offpolicy_decisions", window)
    arms = [LoggedArm(role=r["role"], model=r["model"], propensity=float(r["propensity"]),
                      decisions=int(r["decisions"]), priced=int(r["priced"]), cost_sum=float(r["cost_sum"]),
                      cost_sq_sum=float(r["cost_sq_sum"]), quality_n=int(r["quality_n"]),
                      quality_sum=float(r["quality_sum"]), quality_sq_sum=float(r["quality_sq_sum"]))
            for r in rows]
    versions = sorted({v for r in rows for v in r["policy_versions"] if v})
    return arms, versions


def offpolicy_report(store: Store, window: Mapping[str, Any], policy: Mapping[str, str]) -> dict[str, Any]:
    """JSON-ready estimate of routing by ``policy`` (role -> model), or a message saying why there is none."""
    arms, versions = logged_arms(store, window)
    if not arms:
        return {"status": "no_router_spans", "message": NO_ROUTER_SPANS, "n": 0}
    estimate = estimate_policy(arms, policy)
    if estimate.n == 0:
        message = ("no router-logged calls on the recommended models yet "
                   f"(roles without support: {', '.join(estimate.unsupported_roles) or 'none'})")
        return {"status": "no_support", "message": message, "n": 0,
                "unsupported_roles": list(estimate.unsupported_roles), "policy_versions": versions}
    return {
        "status": "ok",
        "estimator": "ips",
        "confidence_level": estimate.confidence_level,
        "n": estimate.n,
        "matched": estimate.matched,
        "cost_per_call_usd": _money_interval(estimate.cost_ips),
        "quality": _interval(estimate.quality_ips),
        "doubly_robust": {"cost_per_call_usd": _money_interval(estimate.cost_dr),
                          "quality": _interval(estimate.quality_dr)},
        "logged": {"cost_per_call_usd": _money(estimate.logged_cost),
                   "quality": None if estimate.logged_quality is None else round(estimate.logged_quality, 6)},
        "roles": {role: {"cost_per_call_usd": _money_interval(cost), "quality": _interval(quality)}
                  for role, (cost, quality) in estimate.roles.items()},
        "unsupported_roles": list(estimate.unsupported_roles),
        "policy_versions": versions,
    }


def _money(value: float | None) -> str | None:
    return None if value is None else money(Decimal(repr(value)).quantize(_NANO, ROUND_HALF_EVEN))


def _money_interval(interval: Interval | None) -> dict[str, Any] | None:
    if interval is None:
        return None
    return {"estimate": _money(interval.estimate), "low": _money(interval.low), "high": _money(interval.high),
            "n": interval.n, "matched": interval.matched}


def _interval(interval: Interval | None) -> dict[str, Any] | None:
    if interval is None:
        return None
    return {"estimate": round(interval.estimate, 6), "low": round(interval.low, 6), "high": round(interval.high, 6),
            "n": interval.n, "matched": interval.matched}
