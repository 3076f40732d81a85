"""The spend endpoints: spend by any dimensions, spend over time, span listings, one trace, and the
filter values; each reads the hourly rollup for whole clean hours and raw spans for the rest
(collector.store.rollup)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tierscope import clock
from tierscope.collector.read.params import (
    BUCKETS,
    DIMENSIONS,
    parse_choice,
    parse_int,
    parse_list,
    scope,
    single,
    timezone_name,
    trace_id_param,
)
from tierscope.collector.read.rows import group_row, jsonable, money, total_of
from tierscope.collector.pricing.prices import unknown_service_tiers
from tierscope.collector.store import rollup
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import BadParameter
from tierscope.terms import GROUP_COUNTS

_G_KEYS = tuple(f"g_{d}" for d in DIMENSIONS)
_SPEND_SUMS = (*GROUP_COUNTS, "cost_usd", "quality_sum")
_SERIES_SUMS = ("spans", "input_tokens", "output_tokens", "cost_usd", "unpriced_spans", "quality_sum", "quality_n")


def spend_by(store: Store, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `spend_by` query's rows (rollup + raw edges, merged), dearest first."""
    rows = rollup.finish_quality(rollup.read(store, "spend_by", params, _G_KEYS, rollup.add(_SPEND_SUMS)))
    return sorted(rows, key=lambda r: (-r["cost_usd"], -r["spans"], *(r[k] for k in _G_KEYS)))


def spend(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    by = parse_list("by", q.get("by") or "role", DIMENSIONS)
    rows = [group_row(r, by) for r in spend_by(store, {**scope(q, tenant), "by": by})]
    body = {"by": by, "rows": [jsonable(r) for r in rows], "total": jsonable(total_of(rows))}
    if "service_tier" in by:  # calls on a tier no price knows: priced at the default, shown, never dropped
        body["unknown_service_tiers"] = unknown_service_tiers((r["service_tier"], r["spans"]) for r in rows)
    return body


def spend_timeseries(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    text = q.get("split", "role")
    splits = parse_list("split", text, DIMENSIONS) if text else []
    if len(splits) > 2:
        raise BadParameter("split names at most two dimensions, e.g. role,tier")
    split, split2 = (splits + ["", ""])[:2]
    params = {**scope(q, tenant), "bucket": parse_choice("bucket", q.get("bucket"), BUCKETS, "hour"),
              "split": split, "split2": split2, "tz": timezone_name(q.get("tz"))}
    aligned = rollup.hour_aligned(params["tz"], (params["since"], params["until"]))
    rows = rollup.finish_quality(rollup.read(store, "spend_timeseries", params, ("bucket", "series", "series2"),
                                             rollup.add(_SERIES_SUMS), use_rollup=aligned))
    rows.sort(key=lambda r: (r["bucket"], r["series"], r["series2"]))
    if not split2:
        for r in rows:
            del r["series2"]
    return {"bucket": params["bucket"], "split": ",".join(splits), "rows": [jsonable(r) for r in rows]}


def spans(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    params = {**scope(q, tenant), "tier": single("tier", q), "model": single("model", q),
              "provider": single("provider", q), "trace_id": trace_id_param(q.get("trace_id", ""), allow_empty=True),
              "limit": parse_int("limit", q.get("limit"), 100, 1, 10_000),
              "offset": parse_int("offset", q.get("offset"), 0, 0, 10_000_000)}
    return {"rows": [jsonable(r) for r in newest_spans(store, params)]}


# Windows a newest-first span listing reads backwards from now, each only if the ones after it did
# not fill the page: a drill-down over 30 days reads the last hour, not the month.
NEWEST_WINDOWS = (timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=7), timedelta(days=31))


def newest_spans(store: Store, params: dict[str, Any], now: datetime | None = None) -> list[dict[str, Any]]:
    """`spans_list` rows for params' [since, until), newest first, `limit` after `offset`: read in
    disjoint time windows from the newest back, so a page of recent spans never scans the range; in
    each, the page's keys first (spans_keys, no quality join), then the full rows of just those."""
    since, until = params["since"], params["until"]
    want = params["limit"] + params["offset"]
    now = now or clock.now()
    bounds = [until] + [max(since, min(until, now - w)) for w in NEWEST_WINDOWS] + [since]
    rows: list[dict[str, Any]] = []
    for hi, lo in zip(bounds, bounds[1:]):
        if lo >= hi:
            continue
        keys = store.query("spans_keys", {**params, "since": lo, "until": hi, "limit": want - len(rows), "offset": 0})
        if keys:
            first, last = (k["start_time"].replace(tzinfo=UTC) for k in (keys[-1], keys[0]))
            rows += store.query("spans_list", {**params, "since": first, "until": last + timedelta(microseconds=1),
                                               "keys": [k["trace_id"] + k["span_id"] for k in keys],
                                               "limit": len(keys), "offset": 0})
        if len(rows) >= want:
            break
    return rows[params["offset"]:want]


def trace(store: Store, q: Mapping[str, str], tenant: str, trace_id: str) -> dict[str, Any]:
    params = {**scope({}, tenant), "tier": "", "model": "", "provider": "",
              "trace_id": trace_id_param(trace_id), "keys": [], "limit": 10_000, "offset": 0}
    found = store.query("trace_bounds", {"tenant": tenant, "trace_id": params["trace_id"]})
    if found and found[0]["spans"]:  # read only the trace's own time range (a bloom-filter lookup)
        params["since"] = found[0]["first_start"].replace(tzinfo=UTC)
        params["until"] = found[0]["last_start"].replace(tzinfo=UTC) + timedelta(microseconds=1)
    rows = sorted(store.query("spans_list", params), key=lambda r: (r["start_time"], r["span_id"]))
    priced = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    return {"trace_id": params["trace_id"], "spans": [jsonable(r) for r in rows],
            "cost_usd": money(sum(priced, Decimal(0))), "unpriced_spans": len(rows) - len(priced)}


def filters(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    rows = rollup.read(store, "filter_values", scope(q, tenant), (), _union_filters)
    row = rows[0] if rows else {}
    out = jsonable(row)
    out["spans"] = int(row.get("spans", 0))
    if not out["spans"]:
        out["first_span"] = out["last_span"] = None
    return out


def _union_filters(into: dict[str, Any], row: dict[str, Any]) -> None:
    if not row["spans"]:
        return
    if not into["spans"]:
        into.update(row)
        return
    for key in ("roles", "teams", "services", "environments", "tiers", "models", "features"):
        into[key] = sorted(set(into[key]) | set(row[key]))
    into["spans"] += row["spans"]
    into["first_span"] = min(into["first_span"], row["first_span"])
    into["last_span"] = max(into["last_span"], row["last_span"])


