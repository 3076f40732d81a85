"""`GET /api/v1/levers`: per role, the routing levers beyond the tier, over time.

The seeds' month-end numbers — each role's share of calls per tier, how often the router had to
retry (escalation after a failed check, failover after a provider error) and what those retries
cost, and the spend — beside the two levers cheaper than a tier change: the prompt cache (the
share of input tokens read from it and the dollars it saved, priced at ingest: cache-read tokens x
(input price - cache-read price)) and batch processing (what the calls would have cost less at
genai-prices' batch price), shown for the roles that are latency-tolerant: marked
``deadline: async`` in the routing policy file or run under ``role(..., deadline="async")``.

Rates are per original call: retries / (calls - retries), so 0.25 means one call in four needed a
second attempt. Every sum is exact (Decimal) and reads the hourly rollup for clean hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tierscope.collector.read.params import BUCKETS, parse_choice, scope, timezone_name
from tierscope.collector.read.rows import jsonable
from tierscope.collector.recommender.policy_file import PolicyFileError, load_policy
from tierscope.collector.store import rollup
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import BadParameter
from tierscope.terms import LEVER_COUNTS, LEVER_MONEY, TIERS

SUMS = ("spans", "unpriced_spans", "input_tokens", "cache_read_tokens", "cost_usd", *LEVER_COUNTS, *LEVER_MONEY)


def lever_rows(store: Store, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `role_levers` rows (bucket, role, tier and the sums), rollup + raw edges merged."""
    aligned = rollup.hour_aligned(params["tz"], (params["since"], params["until"]))
    rows = rollup.read(store, "role_levers", params, ("bucket", "role", "tier"), rollup.add(SUMS), use_rollup=aligned)
    return sorted(rows, key=lambda r: (r["bucket"], r["role"], r["tier"]))


def levers(store: Store, q: Mapping[str, str], tenant: str, *, policy_file: str = "") -> dict[str, Any]:
    try:
        routing = load_policy(policy_file) if policy_file else None
    except PolicyFileError as exc:
        raise BadParameter(str(exc)) from None
    params = {**scope(q, tenant), "bucket": parse_choice("bucket", q.get("bucket"), BUCKETS, "day"),
              "tz": timezone_name(q.get("tz"))}
    rows = lever_rows(store, params)
    roles: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        roles.setdefault(r["role"], []).append(r)
    tolerant = {name for name, p in (routing.roles.items() if routing else ()) if p.deadline == "async"}
    summary = [_role_summary(name, group, name in tolerant) for name, group in sorted(roles.items())]
    summary.sort(key=lambda s: (-s["cost_usd"], s["role"]))
    series = [{**{k: r[k] for k in ("bucket", "role", "tier", *SUMS)}, **_rates(r)} for r in rows]
    return {"bucket": params["bucket"], "tz": params["tz"], "roles": [jsonable(s) for s in summary],
            "total": jsonable(_role_summary("", rows, False)), "series": [jsonable(s) for s in series]}


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: sum((r[k] for r in rows), Decimal(0) if k.endswith("_usd") else 0) for k in SUMS}


def _rates(t: Mapping[str, Any]) -> dict[str, float | None]:
    """Retries per original call (calls that were not themselves a retry)."""
    original = t["spans"] - t["escalated_spans"] - t["failover_spans"]
    return {"escalation_rate": t["escalated_spans"] / original if original > 0 else None,
            "failover_rate": t["failover_spans"] / original if original > 0 else None}


def _role_summary(name: str, rows: list[dict[str, Any]], policy_async: bool) -> dict[str, Any]:
    t = _total(rows)
    by_tier = {tier: _total([r for r in rows if r["tier"] == tier]) for tier in (*TIERS, "")}
    tiers = {tier or "unknown": {"spans": s["spans"], "share": s["spans"] / t["spans"] if t["spans"] else None,
                                 "cost_usd": s["cost_usd"]}
             for tier, s in by_tier.items() if s["spans"]}
    tolerant = policy_async or t["async_spans"] > 0
    rates = _rates(t)
    return {
        "role": name, "spans": t["spans"], "cost_usd": t["cost_usd"], "unpriced_spans": t["unpriced_spans"],
        "tiers": tiers,
        "escalations": {"spans": t["escalated_spans"], "cost_usd": t["escalated_cost_usd"],
                        "rate": rates["escalation_rate"]},
        "failovers": {"spans": t["failover_spans"], "cost_usd": t["failover_cost_usd"],
                      "rate": rates["failover_rate"]},
        "cache": {"input_tokens": t["input_tokens"], "cache_read_tokens": t["cache_read_tokens"],
                  "read_share": t["cache_read_tokens"] / t["input_tokens"] if t["input_tokens"] else None,
                  "saving_usd": t["cache_saving_usd"]},
        "batch": {"latency_tolerant": tolerant,
                  "marked_by": "policy file" if policy_async else "spans" if tolerant else None,
                  "async_spans": t["async_spans"], "saving_usd": t["batch_saving_usd"]},
        "saving_unknown_spans": t["saving_unknown_spans"],
    }
