"""Finance's month close: month x team x role x model with subtotals and a grand total that
reconcile exactly (Decimal), month-over-month change, run-rate forecast and share unpriced.

"vs previous month" is like-for-like: an open month's spend so far is compared with the previous
month up to the same day-of-month and wall-clock time in the chosen time zone (2 December 10:00 ->
1 November 00:00 to 2 November 10:00), clipped to the previous month's end (31 March 12:00 -> all of
February). The full previous month is reported beside it. A closed month compares with the whole
previous month.

Month boundaries are midnight on the 1st in the chosen time zone (UTC by default): a span at
23:59:59.999 on the last day belongs to that month, one at 00:00:00.000 to the next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from tierscope import clock
from tierscope.collector.read.params import scope
from tierscope.collector.read.rows import group_row, jsonable, money, total_of
from tierscope.collector.read.spend import spend_by
from tierscope.collector.store import rollup
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


def previous_to_date(month: str, tz: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, cut) of the month before `month` that matches the part of `month` elapsed at `now`:
    the same day-of-month and wall-clock time in `tz`, clipped to the previous month's end (and the
    whole previous month once `month` is over, nothing of it before `month` starts)."""
    since, until = month_bounds(month, tz)
    p_since, p_until = month_bounds(previous_month(month), tz)
    if now >= until:
        return p_since, p_until
    if now <= since:
        return p_since, p_since
    local = now.astimezone(ZoneInfo(tz))
    start = p_since.astimezone(ZoneInfo(tz))
    last_day = (p_until.astimezone(ZoneInfo(tz)) - timedelta(days=1)).day
    if local.day > last_day:
        return p_since, p_until
    cut = datetime(start.year, start.month, local.day, local.hour, local.minute, local.second,
                   local.microsecond, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    return p_since, min(max(cut, p_since), p_until)


def run_rate(spend: Decimal, since: datetime, until: datetime, now: datetime) -> Decimal:
    """The forecast for the month [since, until) at `now`: its spend so far x month length / time
    elapsed, to the micro-dollar, while the month is open; the spend itself before or after it.
    Durations are whole microseconds, so the ratio is exact (a DST month is an hour short or long)."""
    if not since < now < until:
        return spend
    elapsed, length = (now - since) // _MICROSECOND, (until - since) // _MICROSECOND
    return (spend * length / elapsed).quantize(Decimal("0.000001"))


def _grouped(store: Store, tenant: str, bounds: tuple[datetime, datetime], by: list[str],
             q: Mapping[str, str]) -> list[dict]:
    since, until = bounds
    if since >= until:
        return []
    params = {**scope({k: v for k, v in q.items() if k not in ("since", "until")}, tenant),
              "since": since, "until": until, "by": by}
    return [group_row(r, by) for r in spend_by(store, params)]


def _keyed(rows: list[dict], by: list[str]) -> dict[tuple, Decimal]:
    return {tuple(r[k] for k in by): r["cost_usd"] for r in rows}


def _compare(part: dict[str, Any], previous: Decimal, to_date: Decimal) -> None:
    """Set the full previous month, its like-for-like part, and the change against each."""
    part["previous_cost_usd"], part["change_usd"] = previous, part["cost_usd"] - previous
    part["previous_to_date_cost_usd"], part["change_to_date_usd"] = to_date, part["cost_usd"] - to_date


def _subtotals(rows: list[dict], first: str) -> list[dict]:
    subtotals = []
    for value in dict.fromkeys(r[first] for r in rows):
        part = [r for r in rows if r[first] == value]
        sub = total_of(part)
        sub[first] = value
        _compare(sub, sum((r["previous_cost_usd"] for r in part), Decimal(0)),
                 sum((r["previous_to_date_cost_usd"] for r in part), Decimal(0)))
        subtotals.append(sub)
    return subtotals


def month_close(store: Store, tenant: str, month: str, by: list[str], tz: str,
                scope_filters: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
    """The month's close at `now` (the clock's by default). `previous_cost_usd` is the whole previous
    month; `previous_to_date_cost_usd` the previous month up to the same day-of-month and wall-clock
    time in `tz`, clipped to its end (see `previous_to_date`); `change_usd` and `change_to_date_usd`
    compare with each. Money is exact (Decimal strings)."""
    by = by or ["team"]
    now = now or clock.now()
    since, until = month_bounds(month, tz)
    p_since, p_cut = previous_to_date(month, tz, now)
    p_month = month_bounds(previous_month(month), tz)
    reads = [(since, until), p_month] + ([] if p_cut == p_month[1] else [(p_since, p_cut)])
    rows, *previous = rollup.together(*(partial(_grouped, store, tenant, r, by, scope_filters) for r in reads))
    before = _keyed(previous[0], by)
    before_to_date = _keyed(previous[1], by) if len(previous) > 1 else before
    for r in rows:
        key = tuple(r[k] for k in by)
        _compare(r, before.get(key, Decimal(0)), before_to_date.get(key, Decimal(0)))
    rows.sort(key=lambda r: tuple(r[k] for k in by))
    subtotals = _subtotals(rows, by[0])
    total = total_of(rows)
    _compare(total, sum(before.values(), Decimal(0)), sum(before_to_date.values(), Decimal(0)))
    forecast = run_rate(total["cost_usd"], since, until, now)
    share_unpriced = total["unpriced_spans"] / total["spans"] if total["spans"] else 0.0
    return {
        "month": month, "tz": tz, "by": by,
        "since": since.isoformat(), "until": until.isoformat(),
        "previous_month": previous_month(month),
        "previous_to_date": {"since": p_since.isoformat(), "until": p_cut.isoformat()},
        "rows": [jsonable(r) for r in rows],
        "subtotals": [jsonable(s) for s in subtotals],
        "total": jsonable(total),
        "forecast_usd": money(forecast),
        "share_unpriced": share_unpriced,
        "complete": now >= until,
    }
