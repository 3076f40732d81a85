"""Misrouted frontier calls: what ran on a dearer tier than it had to, and what that cost.

Two kinds of finding, ranked together by saving:

* ``policy``: a call above its role's allowed tiers (the routing policy file). The saving is the
  same tokens repriced on the cheapest model of the role's highest allowed tier.
* ``evidence``: a frontier call of a role that has a cheaper tier (a concrete model on it) whose
  observed quality meets the role's floor with statistical confidence: the lower bound of a
  Wilson score interval on mean quality is at least the floor. The saving is the same tokens
  repriced on that model.

A role pinned by policy is never flagged. Repricing goes through the collector's own `Pricer`
(same bulk, exact Decimal arithmetic as ingest), so a saving is exact to the 18th decimal.
Calls whose actual or target price is unknown are counted, never priced at $0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierscope.collector.store import rollup
from tierscope.collector.recommender.policy_file import TIER_ORDER, PolicyFileError, RoutingPolicy, load_policy, tier_rank
from tierscope.collector.pricing.prices import Pricer, PricesFileError, load_overrides
from tierscope.collector.read.params import scope
from tierscope.collector.read.rows import jsonable, money
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import BadParameter
from tierscope.terms import PRICED_TOKENS

FRONTIER = "frontier"
_DRILL_SCOPE = ("since", "until", "team", "service", "environment")


def wilson(mean: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a mean of scores in [0, 1] from n observations.

    For fractional scores p(1-p) bounds the variance from above, so the interval is conservative.
    """
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    centre = mean + z * z / (2 * n)
    spread = z * math.sqrt(max(mean * (1 - mean), 0.0) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


@dataclass(frozen=True)
class Target:
    tier: str
    model: str
    provider: str


_TOKENS = PRICED_TOKENS


class Calls:
    """The calls of one (role, tier, model, provider, service tier, processing): summed per hour
    (`hourly`), and one by one (`table`, read from the store only when a target's price is not one
    linear price for all time). A target is priced at the service tier and processing the calls ran
    on: a priority call moved to a cheaper model still runs on priority."""

    def __init__(self, role: str, tier: str, model: str, provider: str, service_tier: str, processing: str,
                 hourly: pa.Table, fetch: Callable[[], pa.Table]) -> None:
        self.role, self.tier, self.model, self.provider = role, tier, model, provider
        self.service_tier, self.processing = service_tier, processing
        self.hourly = hourly
        self._fetch = fetch
        self._table: pa.Table | None = None
        self.calls = int(pc.sum(hourly["calls"]).as_py() or 0)
        self.cost_usd = _sum(hourly["cost_usd"])

    @property
    def table(self) -> pa.Table:
        if self._table is None:
            self._table = self._fetch()
        return self._table

    def saving(self, pricer: Pricer, target: Target) -> dict[str, Any]:
        """Actual vs target cost over the calls both price; the others are counted as unpriced."""
        if pricer.constant_linear(target.model, target.provider, variants=bool(self.service_tier or self.processing)):
            cost, moved, repriced = self._saving_hourly(pricer, target)
        else:
            cost, moved, repriced = self._saving_per_call(pricer, target)
        return {"target_tier": target.tier, "target_model": target.model, "target_provider": target.provider,
                "repriced_calls": repriced, "unpriced_calls": self.calls - repriced,
                "repriced_cost_usd": cost, "target_cost_usd": moved, "saving_usd": cost - moved}

    def _saving_hourly(self, pricer: Pricer, target: Target) -> tuple[Decimal, Decimal, int]:
        """One linear price: the target cost of an hour's calls is that price times their token sums."""
        h, n = self.hourly, self.hourly.num_rows
        priced = pricer.price([target.model] * n, [target.provider] * n, h["start_ns"].to_numpy(),
                              *(h[k].to_numpy().astype(np.int64) for k in _TOKENS), *self._served(n))
        if not priced.priced.any():
            return Decimal(0), Decimal(0), 0
        return self.cost_usd, _sum(priced.cost_usd), int(pc.sum(h["priced_calls"]).as_py() or 0)

    def _served(self, n: int) -> tuple[list[str], list[str]]:
        return [self.service_tier] * n, [self.processing] * n

    def _saving_per_call(self, pricer: Pricer, target: Target) -> tuple[Decimal, Decimal, int]:
        t, n = self.table, self.table.num_rows
        priced = pricer.price([target.model] * n, [target.provider] * n, t["start_ns"].to_numpy(),
                              *(t[k].to_numpy().astype(np.int64) for k in _TOKENS), *self._served(n))
        both = pa.array(t["priced"].to_numpy() & priced.priced)
        return (_sum(pc.filter(t["cost_usd"], both)), _sum(pc.filter(priced.cost_usd, both)),
                int(pc.sum(both).as_py() or 0))


def _sum(values: pa.Array | pa.ChunkedArray) -> Decimal:
    total = pc.sum(values).as_py() if len(values) else None
    return Decimal(0) if total is None else Decimal(total)


def cheapest(calls: Calls, pricer: Pricer, targets: list[Target]) -> dict[str, Any] | None:
    """The target that prices the most calls, then costs least (ties by name); None if none prices any."""
    options = [calls.saving(pricer, t) for t in sorted(set(targets), key=lambda t: (t.model, t.provider))]
    options = [o for o in options if o["repriced_calls"]]
    return min(options, key=lambda o: (-o["repriced_calls"], o["target_cost_usd"]), default=None)


def _quality(group: Mapping[str, Any], floor: float, confidence: float) -> dict[str, Any]:
    n = int(group["quality_n"])
    mean = float(group["quality_mean"]) if n else None
    low, high = wilson(mean, n, confidence) if n else (None, None)
    return {"quality_n": n, "quality_mean": mean, "quality_low": low, "quality_high": high,
            "quality_floor": floor, "meets_floor": low is not None and low >= floor}


def misrouted_report(store: Store, tenant: str, q: Mapping[str, Any], policy: RoutingPolicy,
                     pricer: Pricer, confidence: float = 0.95) -> dict[str, Any]:
    """Ranked misrouted-call findings for the scope in `q`; JSON-ready."""
    params = scope(q, tenant)
    wanted = set(params["roles"])
    groups, calls = rollup.together(partial(_groups, store, {**params, "roles": []}),
                                    partial(_calls, store, {**params, "tiers": _suspect_tiers(policy)}))
    catalog: dict[str, list[Target]] = {}
    for g in groups:
        if tier_rank(g["tier"]) >= 0 and g["spans"] > g["unpriced_spans"]:
            catalog.setdefault(g["tier"], []).append(Target(g["tier"], g["model"], g["provider"]))
    for tier, declared in policy.models.items():
        catalog.setdefault(tier, []).extend(Target(tier, d.model, d.provider) for d in declared)
    evidence = [{"role": g["role"], "tier": g["tier"], "model": g["model"], "provider": g["provider"],
                 **_quality(g, policy.floor(g["role"]), confidence)}
                for g in groups if 0 <= tier_rank(g["tier"]) < tier_rank(FRONTIER) and g["quality_n"]
                and not policy.pinned(g["role"]) and (not wanted or g["role"] in wanted)]

    rows = []
    for c in calls:
        if policy.pinned(c.role) or (wanted and c.role not in wanted):
            continue
        ceiling = policy.role(c.role).ceiling
        if ceiling and tier_rank(c.tier) > tier_rank(ceiling):
            rows.append(_policy_row(c, policy, pricer, catalog.get(ceiling, []), evidence, confidence, q))
        elif c.tier == FRONTIER:
            row = _evidence_row(c, policy, pricer, evidence, confidence, q)
            if row:
                rows.append(row)

    rows.sort(key=lambda r: (r["saving_usd"] is None, -(r["saving_usd"] or 0), r["role"], r["model"]))
    saving = sum((r["saving_usd"] for r in rows if r["saving_usd"] is not None), Decimal(0))
    return {
        "policy": policy.describe(), "confidence": confidence,
        "rows": [jsonable(r) for r in rows],
        "evidence": sorted(evidence, key=lambda e: (e["role"], -tier_rank(e["tier"]), e["model"], e["provider"])),
        "total_saving_usd": money(saving),
        "flagged_calls": sum(r["calls"] for r in rows),
    }


def _suspect_tiers(policy: RoutingPolicy) -> list[str]:
    """Frontier, plus every tier above some role's ceiling."""
    above = {t for p in policy.roles.values() if p.ceiling for t in TIER_ORDER if tier_rank(t) > tier_rank(p.ceiling)}
    return sorted(above | {FRONTIER})


def _policy_row(c: Calls, policy: RoutingPolicy, pricer: Pricer, targets: list[Target],
                evidence: list[dict[str, Any]], confidence: float, q: Mapping[str, Any]) -> dict[str, Any]:
    ceiling = policy.role(c.role).ceiling
    found = cheapest(c, pricer, targets)
    proof = next((e for e in evidence if found and (e["role"], e["tier"], e["model"], e["provider"])
                  == (c.role, ceiling, found["target_model"], found["target_provider"])), None)
    reason = (f"policy {policy.version or '(unversioned)'} allows {c.role} on "
              f"{', '.join(policy.role(c.role).allowed_tiers)}; these calls ran on {c.tier}")
    quality = proof or _quality({"quality_n": 0}, policy.floor(c.role), confidence)
    return _row("policy", c, found, quality, reason, q, ceiling)


def _evidence_row(c: Calls, policy: RoutingPolicy, pricer: Pricer, evidence: list[dict[str, Any]],
                  confidence: float, q: Mapping[str, Any]) -> dict[str, Any] | None:
    """The proven cheaper model with the largest saving on these frontier calls, if any."""
    allowed = policy.role(c.role).allowed_tiers
    best: tuple[dict[str, Any], dict[str, Any]] | None = None
    for e in evidence:
        if e["role"] != c.role or not e["meets_floor"] or (allowed and e["tier"] not in allowed):
            continue
        found = cheapest(c, pricer, [Target(e["tier"], e["model"], e["provider"])])
        if found and found["saving_usd"] > 0 and (best is None or found["saving_usd"] > best[0]["saving_usd"]):
            best = (found, e)
    if best is None:
        return None
    found, e = best
    reason = (f"{c.role} on {e['tier']} ({e['model']}) scores {e['quality_low']:.3f}-{e['quality_high']:.3f} "
              f"(n={e['quality_n']}, {confidence:.0%} interval), lower bound at or above the floor {e['quality_floor']}")
    return _row("evidence", c, found, e, reason, q, e["tier"])


_CALL_KEYS = ("role", "tier", "model", "provider", "service_tier", "processing")
_HOURS_SCHEMA = pa.schema(
    [(k, pa.string()) for k in _CALL_KEYS] + [("start_ns", pa.int64())]
    + [(k, pa.uint64()) for k in ("calls", "priced_calls", "input_tokens", "output_tokens", "cache_read_tokens",
                                  "cache_write_tokens")] + [("cost_usd", pa.decimal128(38, 18))])


def _groups(store: Store, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Calls, spend and quality per (role, tier, model, provider), from the rollup where current."""
    keys = ("role", "tier", "model", "provider")
    rows = rollup.read(store, "misrouted_groups", params, keys,
                       rollup.add(("spans", "cost_usd", "unpriced_spans", "quality_n", "quality_sum")))
    return sorted(rollup.finish_quality(rows), key=lambda r: tuple(r[k] for k in keys))


def _hours(store: Store, params: Mapping[str, Any]) -> pa.Table:
    """misrouted_hours over params' range, clean hours from the rollup (as rollup.read does for
    dict rows): equal to the raw query's rows, in its order. A rollup hour with a group whose calls
    are partly priced cannot give the priced calls' tokens, so that hour (or the hour of that unit)
    is read raw too."""
    p = rollup.current_plan(store, params)
    parts: list[pa.Table] = []
    if p.h0 is not None:
        clean = store.query_arrow("misrouted_hours", rollup.clean_hours(params, p), over_rollup=True)
        mixed = pc.filter(clean["start_ns"], pc.equal(clean["mixed"], 1)).unique().to_numpy()
        if len(mixed):
            clean = clean.filter(pc.invert(pc.is_in(clean["start_ns"], pa.array(mixed))))
            hours = [datetime.fromtimestamp(ns // 10**9, UTC) for ns in mixed.tolist()]
            p = rollup.at_most(rollup.without(p, hours, params["since"], params["until"]), rollup.RAW_READS)
        parts.append(clean)
    parts += rollup.together(*(partial(store.query_arrow, "misrouted_hours", {**params, "since": a, "until": b})
                               for a, b in p.raw))
    table = pa.concat_tables([t.drop_columns(["mixed"]).cast(_HOURS_SCHEMA) for t in parts])
    if len(parts) > 1:  # an hour read partly from its units' rows and partly raw: one row per hour
        sums = _HOURS_SCHEMA.names[len(_CALL_KEYS) + 1:]
        table = table.group_by([*_CALL_KEYS, "start_ns"]).aggregate([(c, "sum") for c in sums])
        table = table.rename_columns([n.removesuffix("_sum") for n in table.column_names]).select(
            _HOURS_SCHEMA.names).cast(_HOURS_SCHEMA)
    return table.sort_by([(k, "ascending") for k in (*_CALL_KEYS, "start_ns")])


def _calls(store: Store, params: Mapping[str, Any]) -> list[Calls]:
    table = _hours(store, params)
    if table.num_rows == 0:
        return []
    keys = list(zip(*(table[k].to_pylist() for k in _CALL_KEYS)))
    bounds = [0] + [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]] + [len(keys)]

    def fetch(role: str, tier: str, model: str, provider: str, service_tier: str,
              processing: str) -> Callable[[], pa.Table]:
        one = {**params, "roles": [role], "tiers": [tier], "model": model, "provider": provider,
               "service_tiers": [service_tier], "processing_modes": [processing]}
        return lambda: store.query_arrow("misrouted_calls", one)

    return [Calls(*keys[a], table.slice(a, b - a), fetch(*keys[a])) for a, b in zip(bounds, bounds[1:])]


def _row(kind: str, c: Calls, found: dict[str, Any] | None, quality: Mapping[str, Any], reason: str,
         q: Mapping[str, Any], target_tier: str) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": kind, "role": c.role, "tier": c.tier, "model": c.model, "provider": c.provider,
                           "service_tier": c.service_tier, "processing": c.processing,
                           "calls": c.calls, "cost_usd": c.cost_usd}
    row.update(found or {"target_tier": target_tier, "target_model": None, "target_provider": None,
                         "repriced_calls": 0, "unpriced_calls": c.calls,
                         "repriced_cost_usd": None, "target_cost_usd": None, "saving_usd": None})
    row.update({k: quality[k] for k in ("quality_n", "quality_mean", "quality_low", "quality_high",
                                        "quality_floor", "meets_floor")})
    row["reason"] = reason if found else f"{reason}; no priced {target_tier} model observed or declared"
    drill = {k: q[k] for k in _DRILL_SCOPE if q.get(k)}
    drill.update(role=c.role, tier=c.tier, model=c.model, provider=c.provider)
    row["drill_down"] = {"endpoint": "spans", "params": drill}
    return row


def misrouted(store: Store, q: Mapping[str, Any], tenant: str, *, policy_file: str, prices_file: str) -> dict[str, Any]:
    """GET /api/v1/misrouted: the routing policy and price overrides are read from their files on each
    request, so an edited policy counts at once."""
    try:
        policy = load_policy(policy_file)
        pricer = Pricer(load_overrides(prices_file))
    except PolicyFileError as exc:
        raise BadParameter(f"routing policy: {exc}") from None
    except PricesFileError as exc:
        raise BadParameter(f"price overrides: {exc}") from None
    return misrouted_report(store, tenant, q, policy, pricer, _confidence(q.get("confidence")))


def _confidence(text: str | None) -> float:
    if not text:
        return 0.95
    try:
        value = float(text)
    except ValueError:
        raise BadParameter(f"confidence must be a number such as 0.95, got {text[:20]!r}") from None
    if not 0.5 <= value < 1:
        raise BadParameter("confidence must be in [0.5, 1)")
    return value
