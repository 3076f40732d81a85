"""The read API: named, parameterized queries over HTTP, as JSON. Never raw SQL from a client.

Every endpoint takes the shared scope parameters (since, until, role, team, service, environment)
and answers 400 with a one-line reason for a bad one. Money is a decimal string, never a float.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tierscope import clock
from tierscope.collector.store import rollup
from tierscope.collector.read.months import month_close
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import BadParameter

DIMENSIONS = ("role", "tier", "model", "provider", "team", "feature", "service", "environment")
BUCKETS = ("hour", "day", "week", "month")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(2200, 1, 1, tzinfo=UTC)
MAX_LIST_ITEMS = 100
MAX_VALUE_CHARS = 4096
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def money(value: Decimal | None) -> str | None:
    """Exact decimal string without exponent or trailing zeros: Decimal('1.50') -> '1.5'."""
    if value is None:
        return None
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_time(name: str, text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(f"{name} must be an ISO 8601 time such as 2026-11-01T00:00:00Z, got {text[:60]!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


FILTER_PARAMS = ("role", "team", "service", "environment")  # repeatable: ?role=a&role=b


def parse_list(name: str, text: str | list[str] | None, allowed: tuple[str, ...] | None = None) -> list[str]:
    """A comma-separated string (dimension names), or the repeated values of a filter parameter as
    given (role names may contain commas)."""
    if not text:
        return []
    if isinstance(text, list):
        items = [item for item in text if item != ""]
    else:
        items = [item.strip() for item in text.split(",") if item.strip()]
    if len(items) > MAX_LIST_ITEMS or any(len(item) > MAX_VALUE_CHARS for item in items):
        raise BadParameter(f"{name} has too many or too long values")
    if allowed is not None:
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise BadParameter(f"{name} may only name {', '.join(allowed)}; got {', '.join(unknown)[:200]}")
    return items


def parse_int(name: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadParameter(f"{name} must be an integer, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise BadParameter(f"{name} must be between {low} and {high}")
    return value


def parse_choice(name: str, text: str | None, choices: tuple[str, ...], default: str) -> str:
    value = text or default
    if value not in choices:
        raise BadParameter(f"{name} must be one of {', '.join(choices)}")
    return value


def single(name: str, q: Mapping[str, str]) -> str:
    value = q.get(name, "")
    if len(value) > MAX_VALUE_CHARS:
        raise BadParameter(f"{name} is longer than {MAX_VALUE_CHARS} characters")
    return value


def scope(q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    """The parameters every query's v_spans(...) takes."""
    since = parse_time("since", q.get("since"), EPOCH)
    until = parse_time("until", q.get("until"), END_OF_TIME)
    if until <= since:
        raise BadParameter("until must be after since")
    return {
        "tenant": tenant,
        "since": since,
        "until": until,
        "roles": parse_list("role", q.get("role")),
        "teams": parse_list("team", q.get("team")),
        "services": parse_list("service", q.get("service")),
        "environments": parse_list("environment", q.get("environment")),
    }


def _group_row(row: dict[str, Any], by: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {key: row[f"g_{key}"] for key in by}
    for key in ("spans", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                "reasoning_tokens", "unpriced_spans", "unpriced_tokens", "quality_n"):
        out[key] = int(row[key])
    out["cost_usd"] = row["cost_usd"]
    out["quality_mean"] = None if row["quality_n"] == 0 else float(row["quality_mean"])
    return out


def total_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Column totals of grouped rows, exact for money; quality weighted by its sample count."""
    total: dict[str, Any] = {}
    for key in ("spans", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                "reasoning_tokens", "unpriced_spans", "unpriced_tokens", "quality_n"):
        total[key] = sum(r.get(key, 0) for r in rows)
    total["cost_usd"] = sum((r["cost_usd"] for r in rows), Decimal(0))
    weighted = sum(r["quality_mean"] * r["quality_n"] for r in rows if r["quality_mean"] is not None)
    total["quality_mean"] = weighted / total["quality_n"] if total["quality_n"] else None
    return total


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            out[key] = money(value)
        elif isinstance(value, datetime):
            out[key] = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
        else:
            out[key] = value
    return out


_G_KEYS = tuple(f"g_{d}" for d in DIMENSIONS)
_SPEND_SUMS = ("spans", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
               "reasoning_tokens", "cost_usd", "unpriced_spans", "unpriced_tokens", "quality_sum", "quality_n")
_SERIES_SUMS = ("spans", "input_tokens", "output_tokens", "cost_usd", "unpriced_spans", "quality_sum", "quality_n")


def spend_by(store: Store, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `spend_by` query's rows (rollup + raw edges, merged), dearest first."""
    rows = rollup.finish_quality(rollup.read(store, "spend_by", params, _G_KEYS, rollup.add(_SPEND_SUMS)))
    return sorted(rows, key=lambda r: (-r["cost_usd"], -r["spans"], *(r[k] for k in _G_KEYS)))


def spend(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    by = parse_list("by", q.get("by") or "role", DIMENSIONS)
    rows = [_group_row(r, by) for r in spend_by(store, {**scope(q, tenant), "by": by})]
    return {"by": by, "rows": [jsonable(r) for r in rows], "total": jsonable(total_of(rows))}


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
    disjoint time windows from the newest back, so a page of recent spans never scans the range."""
    since, until = params["since"], params["until"]
    want = params["limit"] + params["offset"]
    now = now or clock.now()
    bounds = [until] + [max(since, min(until, now - w)) for w in NEWEST_WINDOWS] + [since]
    rows: list[dict[str, Any]] = []
    for hi, lo in zip(bounds, bounds[1:]):
        if lo >= hi:
            continue
        rows += store.query("spans_list", {**params, "since": lo, "until": hi, "limit": want - len(rows), "offset": 0})
        if len(rows) >= want:
            break
    return rows[params["offset"]:want]


def trace(store: Store, q: Mapping[str, str], tenant: str, trace_id: str) -> dict[str, Any]:
    params = {**scope({}, tenant), "tier": "", "model": "", "provider": "",
              "trace_id": trace_id_param(trace_id), "limit": 10_000, "offset": 0}
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
    for key in ("roles", "teams", "services", "environments", "tiers", "models"):
        into[key] = sorted(set(into[key]) | set(row[key]))
    into["spans"] += row["spans"]
    into["first_span"] = min(into["first_span"], row["first_span"])
    into["last_span"] = max(into["last_span"], row["last_span"])


def month(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    by = parse_list("by", q.get("by") or "team,role,model", DIMENSIONS)
    return month_close(store, tenant, q.get("month", ""), by, timezone_name(q.get("tz")), scope_filters=q)


def trace_id_param(text: str, allow_empty: bool = False) -> str:
    value = text.strip().lower()
    if allow_empty and not value:
        return ""
    if not _HEX32.match(value):
        raise BadParameter("trace_id must be 32 hex characters")
    return value


def timezone_name(text: str | None) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = text or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadParameter(f"tz must be an IANA time zone such as UTC or Europe/Paris, got {name[:60]!r}") from None
    return name


from tierscope.collector.read.misrouted import misrouted  # noqa: E402  (issue 3: misrouted frontier calls)

ENDPOINTS: dict[str, Callable[[Store, Mapping[str, str], str], dict[str, Any]]] = {
    "spend": spend,
    "spend/timeseries": spend_timeseries,
    "spans": spans,
    "filters": filters,
    "month": month,
    "misrouted": misrouted,
}
