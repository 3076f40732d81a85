"""The read API: named, parameterized queries over HTTP, as JSON. Never raw SQL from a client.

Every endpoint takes the shared scope parameters (since, until, role, team, service, environment)
and answers 400 with a one-line reason for a bad one (`BadParameter`). Money is a decimal string,
never a float. This module is the table of endpoints; each lives with its own concern
(spend, months, misrouted, levers, tasks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from tierscope.collector.read.levers import levers
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
from tierscope.collector.read.tasks import task_summary, tasks_top
from tierscope.collector.store.clickhouse import Store


def month(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    by = parse_list("by", q.get("by") or "team,role,model", DIMENSIONS)
    return month_close(store, tenant, q.get("month", ""), by, timezone_name(q.get("tz")), scope_filters=q)


Handler = Callable[[Store, Mapping[str, str], str], dict[str, Any]]


def endpoints(policy_file: str, prices_file: str) -> dict[str, Handler]:
    """GET /api/v1/<name> -> its handler; misrouted reads the routing policy and price overrides
    from the files the collector was configured with."""
    return {
        "spend": spend,
        "spend/timeseries": spend_timeseries,
        "spans": spans,
        "filters": filters,
        "month": month,
        "tasks": task_summary,
        "tasks/top": tasks_top,
        "misrouted": partial(misrouted, policy_file=policy_file, prices_file=prices_file),
        "levers": partial(levers, policy_file=policy_file),
    }

__all__ = ["Handler", "endpoints", "EPOCH", "FILTER_PARAMS", "BadParameter", "filters", "jsonable", "money", "newest_spans", "parse_time", "scope",
           "spend_by", "trace"]
