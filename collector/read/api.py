"""The read API: named, parameterized queries over HTTP, as JSON. Never raw SQL from a client.

Every endpoint takes the shared scope parameters (since, until, role, team, service, environment)
and answers 400 with a one-line reason for a bad one (`BadParameter`). Money is a decimal string,
never a float. This module is the table of endpoints; each lives with its own concern
(spend, months, misrouted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tierscope.collector.read.misrouted import misrouted
from tierscope.collector.read.months import month_close
from tierscope.collector.read.params import (
    DIMENSIONS,
    EPOCH,
    FILTER_PARAMS,
    BadParameter,
    parse_list,
    parse_time,
    scope,
    timezone_name,
)
from tierscope.collector.read.rows import jsonable, money
from tierscope.collector.read.spend import filters, newest_spans, spans, spend, spend_by, spend_timeseries, trace
from tierscope.collector.store.clickhouse import Store


def month(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    by = parse_list("by", q.get("by") or "team,role,model", DIMENSIONS)
    return month_close(store, tenant, q.get("month", ""), by, timezone_name(q.get("tz")), scope_filters=q)


ENDPOINTS: dict[str, Callable[[Store, Mapping[str, str], str], dict[str, Any]]] = {
    "spend": spend,
    "spend/timeseries": spend_timeseries,
    "spans": spans,
    "filters": filters,
    "month": month,
    "misrouted": misrouted,
}

__all__ = ["ENDPOINTS", "EPOCH", "FILTER_PARAMS", "BadParameter", "filters", "jsonable", "money", "newest_spans", "parse_time", "scope",
           "spend_by", "trace"]
