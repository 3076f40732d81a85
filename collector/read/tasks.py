"""Cost per task: what one agent task (one trace) costs, the unit a proposal is priced on.

A task's cost is the sum of its calls' costs in scope: the calls in [since, until) that pass the
shared filters (role, team, service, environment) and, here only, `feature`. So `role=planner`
gives the planner's share of each task, and a task with no call in scope is not counted.

* v_tasks (sql/views): one row per task, exact Decimal, summed in the engine from the per-task
  rollup (task_rollup: the clean hours, and the clean 5-minute units of the rest) and the raw spans
  (what is left: the unit being written, units changed since their refresh, sub-unit edges),
  split by the same plan as every other aggregate (rollup.current_plan, at most RAW_SLOTS raw parts).
* `GET tasks`: per bucket of the tasks' first call ({bucket} in {tz}), and for the whole scope: how
  many tasks, how many are unpriced, and over the priced ones their total and p50/p95 per task.
* `GET tasks/top` (also `dearest` in GET tasks): the dearest tasks, for a drill-down into their calls
  (GET traces/{id}).

A task with any unpriced call has no known cost: `cost_usd` is null (never $0), it is counted in
`unpriced_tasks` and left out of the quantiles and the total, and ranked among the dearest by the
cost of its priced calls (`priced_cost_usd`, a lower bound). Quantiles are exact and nearest-rank:
p is the cost of the ceil(p x n)-th cheapest of the n priced tasks, a Decimal one of them costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tierscope.collector.read.params import BUCKETS, EPOCH, parse_choice, parse_int, parse_list, scope, timezone_name
from tierscope.collector.read.rows import jsonable
from tierscope.collector.store import rollup
from tierscope.collector.store.clickhouse import Store

RAW_SLOTS = 4  # raw ranges v_tasks reads (sql/views/v_tasks.sql)
_EMPTY = {"tasks": 0, "unpriced_tasks": 0, "priced_tasks": 0, "total_usd": None, "p50_usd": None, "p95_usd": None}


def task_params(store: Store, q: Mapping[str, Any], tenant: str) -> dict[str, Any]:
    """The arguments of v_tasks ($tasks) for the scope in `q` plus its `feature` filter (repeatable):
    the clean hours and units and at most RAW_SLOTS raw ranges of the current plan, unused slots empty."""
    params = {**scope(q, tenant), "features": parse_list("feature", q.get("feature"))}
    p = rollup.current_plan(store, params, max_raw=RAW_SLOTS)
    raw: list[tuple[datetime, datetime]] = [*p.raw, *[(EPOCH, EPOCH)] * (RAW_SLOTS - len(p.raw))]
    parts = rollup.clean_hours(params, p) if p.h0 is not None else {"since": EPOCH, "until": EPOCH, "h0": EPOCH,
                                                                   "h1": EPOCH, "dirty": [], "units": []}
    out = {**params, **{k: parts[k] for k in ("h0", "h1", "dirty", "units")},
           "rollup_since": parts["since"], "rollup_until": parts["until"]}
    for i, (a, b) in enumerate(raw):
        out[f"raw{i}_since"], out[f"raw{i}_until"] = a, b
    return out


def task_summary(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    """Cost per task over time, for the whole scope, and the dearest tasks (GET tasks; see the module
    docstring): one pass over the tasks (task_buckets)."""
    bucket = parse_choice("bucket", q.get("bucket"), BUCKETS, "day")
    tz = timezone_name(q.get("tz"))
    params = {**task_params(store, q, tenant), "bucket": bucket, "tz": tz,
              "limit": parse_int("limit", q.get("limit"), 20, 1, 1_000)}
    (row,) = store.query("task_buckets", params)  # one row (an aggregate without GROUP BY)
    names = ("bucket", *_EMPTY)
    rows = [dict(zip(names, b)) for b in row["buckets"]]
    total = {**_EMPTY, "tasks": row["all_tasks"], "unpriced_tasks": row["all_unpriced_tasks"],
             **{k: row[k] for k in ("priced_tasks", "total_usd", "p50_usd", "p95_usd")}}
    top = [{"cost_usd": -cost, "trace_id": trace_id} for cost, trace_id in row["dearest"]]
    return {"bucket": bucket, "tz": tz, "total": jsonable(total), "rows": [jsonable(r) for r in rows],
            "dearest": _dearest(store, params, top)}


def _dearest(store: Store, params: Mapping[str, Any], top: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dearest tasks as the API answers them, with their calls' counts, times, roles and features."""
    calls = {r["trace_id"]: r for r in store.query(
        "task_calls", {**params, "traces": [t["trace_id"] for t in top]})} if top else {}
    out = []
    for t in top:
        c = calls[t["trace_id"]]
        out.append(jsonable({"trace_id": t["trace_id"], "cost_usd": t["cost_usd"] if not c["unpriced_calls"] else None,
                             "priced_cost_usd": t["cost_usd"], **{k: c[k] for k in (
                                 "calls", "unpriced_calls", "roles", "features", "first_span", "last_span")}}))
    return out


def tasks_top(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    """GET tasks/top: just the dearest tasks in scope (`limit`, default 20)."""
    return {"rows": task_summary(store, q, tenant)["dearest"]}
