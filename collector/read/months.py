"""Finance's month close: month x team x role x model with subtotals and a grand total that
reconcile exactly (Decimal), month-over-month change, run-rate forecast and share unpriced.

Month boundaries are midnight on the 1st in the chosen time zone (UTC by default): a span at
23:59:59.999 on the last day belongs to that month, one at 00:00:00.000 to the next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tierscope import clock
from tierscope.collector.read.params import scope
from tierscope.collector.read.rows import group_row, jsonable, money, total_of
from tierscope.collector.read.spend import spend_by
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import BadParameter

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_MICROSECOND = timedelta(microseconds=1)


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of `YYYY-MM` in time zone `tz`, as UTC datetimes."""
    match = _MONTH.match(month or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BadParameter(f"month must look like 2026-11, got {str(month)[:20]!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    zone = ZoneInfo(tz)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def run_rate(spend: Decimal, since: datetime, until: datetime, now: datetime) -> Decimal:
    """The forecast for the month [since, until) at `now`: its spend so far x month length / time
    elapsed, to the micro-dollar, while the month is open; the spend itself before or after it.
    Durations are whole microseconds, so the ratio is exact (a DST month is an hour short or long)."""
    if not since < now < until:
        return spend
    elapsed, length = (now - since) // _MICROSECOND, (until - since) // _MICROSECOND
    return (spend * length / elapsed).quantize(Decimal("0.000001"))


def _grouped(store: Store, tenant: str, month: str, by: list[str], tz: str, q: Mapping[str, str]) -> list[dict]:
    since, until = month_bounds(month, tz)
    params = {**scope({k: v for k, v in q.items() if k not in ("since", "until")}, tenant),
              "since": since, "until": until, "by": by}
    return [group_row(r, by) for r in spend_by(store, params)]


def month_close(store: Store, tenant: str, month: str, by: list[str], tz: str,
                scope_filters: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
    if not by:
        by = ["team"]
    rows = _grouped(store, tenant, month, by, tz, scope_filters)
    before = {tuple(r[k] for k in by): r["cost_usd"]
              for r in _grouped(store, tenant, previous_month(month), by, tz, scope_filters)}
    for r in rows:
        prev = before.get(tuple(r[k] for k in by), Decimal(0))
        r["previous_cost_usd"] = prev
        r["change_usd"] = r["cost_usd"] - prev
    rows.sort(key=lambda r: tuple(r[k] for k in by))

    subtotals = []
    first = by[0]
    for value in dict.fromkeys(r[first] for r in rows):
        part = [r for r in rows if r[first] == value]
        sub = total_of(part)
        sub[first] = value
        sub["previous_cost_usd"] = sum((r["previous_cost_usd"] for r in part), Decimal(0))
        sub["change_usd"] = sub["cost_usd"] - sub["previous_cost_usd"]
        subtotals.append(sub)

    total = total_of(rows)
    total["previous_cost_usd"] = sum(before.values(), Decimal(0))
    total["change_usd"] = total["cost_usd"] - total["previous_cost_usd"]
    since, until = month_bounds(month, tz)
    now = now or clock.now()
    forecast = run_rate(total["cost_usd"], since, until, now)
    share_unpriced = total["unpriced_spans"] / total["spans"] if total["spans"] else 0.0
    return {
        "month": month, "tz": tz, "by": by,
        "since": since.isoformat(), "until": until.isoformat(),
        "rows": [jsonable(r) for r in rows],
        "subtotals": [jsonable(s) for s in subtotals],
        "total": jsonable(total),
        "forecast_usd": money(forecast),
        "share_unpriced": share_unpriced,
        "complete": now >= until,
    }
