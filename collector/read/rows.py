"""Read rows as the API answers them: grouped rows with exact Decimal money, their totals, and JSON-ready
values (money as exact decimal strings, times as ISO 8601 in UTC)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from decimal import Decimal
from typing import Any

from tierscope.terms import GROUP_COUNTS
from tierscope.terms import decimal_text as money


def group_row(row: dict[str, Any], by: list[str]) -> dict[str, Any]:
    """A `spend_by` row (g_* keys) as the API's group: the `by` dimensions, counts, cost, mean quality."""
    out: dict[str, Any] = {key: row[f"g_{key}"] for key in by}
    for key in GROUP_COUNTS:
        out[key] = int(row[key])
    out["cost_usd"] = row["cost_usd"]
    out["quality_mean"] = None if row["quality_n"] == 0 else float(row["quality_mean"])
    return out


def total_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Column totals of grouped rows, exact for money; quality weighted by its sample count."""
    total: dict[str, Any] = {key: sum(r.get(key, 0) for r in rows) for key in GROUP_COUNTS}
    total["cost_usd"] = sum((r["cost_usd"] for r in rows), Decimal(0))
    weighted = sum(r["quality_mean"] * r["quality_n"] for r in rows if r["quality_mean"] is not None)
    total["quality_mean"] = weighted / total["quality_n"] if total["quality_n"] else None
    return total


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with Decimals as exact strings, datetimes as ISO 8601 (naive ones are UTC) and dicts
    likewise; other values as they are. Dispatched on the exact type: a time series is tens of
    thousands of rows, and this runs once per value."""
    out = {}
    for key, value in row.items():
        convert = _CONVERT.get(type(value))
        if convert is None and type(value) not in _PLAIN:
            convert = next((c for t, c in _CONVERT.items() if isinstance(value, t)), None)
        out[key] = value if convert is None else convert(value)
    return out


@lru_cache(maxsize=8192)  # a series repeats each bucket's time once per series
def _iso(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


_CONVERT: dict[type, Callable[[Any], Any]] = {Decimal: money, datetime: _iso, dict: jsonable}
_PLAIN = frozenset({str, int, float, bool, type(None), list, tuple})


__all__ = ["group_row", "jsonable", "money", "total_of"]
