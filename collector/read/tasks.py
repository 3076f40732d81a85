"""Cost per task: what one agent task (one trace) costs, the unit a proposal is priced on.

A task's cost is the sum of its calls' costs in scope: the calls in [since, until) that pass the
shared filters (role, team, service, environment) and, here only, `feature`. So `role=planner`
gives the planner's share of each task, and a task with no call in scope is not counted.

* `task_costs`: one row per task, exact Decimal, merged from the per-task rollup (task_hourly, for
  the clean hours) and the raw spans (the ragged edges and dirty hours), split by the same plan as
  every other aggregate (rollup.current_plan), the parts summed per trace in Arrow.
* `GET tasks`: per bucket of the tasks' first call ({bucket} in {tz}): how many tasks, how many are
  unpriced, and over the priced ones their total and the p50/p95 cost per task.
* `GET tasks/top`: the dearest tasks, for a drill-down into their calls (GET traces/{id}).

A task with any unpriced call has no known cost: `cost_usd` is null (never $0), it is counted in
`unpriced_tasks` and left out of the quantiles and the total, and ranked among the dearest by the
cost of its priced calls (`priced_cost_usd`, a lower bound). Quantiles are exact and nearest-rank:
p is the cost of the ceil(p x n)-th cheapest of the n priced tasks, a Decimal one of them costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierscope.collector.read.params import BUCKETS, parse_choice, parse_int, parse_list, scope, timezone_name
from tierscope.collector.read.rows import jsonable
from tierscope.collector.store import rollup
from tierscope.collector.store.clickhouse import Store

QUANTILES = (50, 95)  # percent, nearest rank
_SCHEMA = pa.schema([("trace_id", pa.string()), ("calls", pa.uint64()), ("unpriced_calls", pa.uint64()),
                     ("cost_usd", pa.decimal128(38, 18)), ("first_span", pa.timestamp("ns", "UTC")),
                     ("last_span", pa.timestamp("ns", "UTC"))])


def task_params(q: Mapping[str, Any], tenant: str) -> dict[str, Any]:
    """The shared scope plus the tasks' own `feature` filter (repeatable)."""
    return {**scope(q, tenant), "features": parse_list("feature", q.get("feature"))}


def task_costs(store: Store, params: Mapping[str, Any]) -> pa.Table:
    """One row per task in scope (_SCHEMA): its calls, unpriced calls, the exact cost of its priced
    calls, its first and last call's start."""
    p = rollup.current_plan(store, params)
    parts = []
    if p.h0 is not None:
        parts.append(store.query_arrow("task_costs", rollup.clean_hours(params, p), over_rollup="v_task_rollup"))
    for a, b in p.raw:
        parts.append(store.query_arrow("task_costs", {**params, "since": a, "until": b}))
    table = pa.concat_tables([t.select(_SCHEMA.names).cast(_SCHEMA) for t in parts]) if parts else _SCHEMA.empty_table()
    if len(parts) < 2:
        return table
    merged = table.group_by("trace_id").aggregate([("calls", "sum"), ("unpriced_calls", "sum"), ("cost_usd", "sum"),
                                                   ("first_span", "min"), ("last_span", "max")])
    return merged.rename_columns({"calls_sum": "calls", "unpriced_calls_sum": "unpriced_calls", "cost_usd_sum": "cost_usd",
                                  "first_span_min": "first_span", "last_span_max": "last_span"}
                                 ).select(_SCHEMA.names).cast(_SCHEMA)


def nearest_rank(n: np.ndarray, percent: int) -> np.ndarray:
    """0-based index of the p-th percentile in each of groups of sizes `n` (n >= 1): ceil(p n / 100) - 1."""
    return -(-percent * n // 100) - 1


def summarize(tasks: pa.Table, keys: pa.Array | pa.ChunkedArray) -> list[dict[str, Any]]:
    """Per distinct value of `keys` (one per task; ascending): tasks, unpriced_tasks, priced_tasks,
    total_usd and the exact p50/p95 cost over its priced tasks (None when none is priced)."""
    t = pa.table({"key": keys, "cost": tasks["cost_usd"], "priced": pc.equal(tasks["unpriced_calls"], 0)})
    counts = t.group_by("key").aggregate([("priced", "count"), ("priced", "sum")]).sort_by("key").to_pylist()
    priced = t.filter(t["priced"]).sort_by([("key", "ascending"), ("cost", "ascending")])
    # Each key's priced tasks are one sorted run: its quantiles are picked by index within the run.
    runs = priced.group_by("key").aggregate([("cost", "count"), ("cost", "sum")]).sort_by("key").to_pylist()
    size = np.array([r["cost_count"] for r in runs], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    picks = {q: priced["cost"].take(pa.array(first + nearest_rank(size, q))).to_pylist() if len(runs) else []
             for q in QUANTILES}
    found = {r["key"]: (i, r["cost_sum"]) for i, r in enumerate(runs)}
    out = []
    for r in counts:
        i, total = found.get(r["key"], (None, None))
        out.append({"key": r["key"], "tasks": r["priced_count"], "unpriced_tasks": r["priced_count"] - r["priced_sum"],
                    "priced_tasks": r["priced_sum"], "total_usd": total,
                    **{f"p{q}_usd": None if i is None else picks[q][i] for q in QUANTILES}})
    return out


def buckets(tasks: pa.Table, bucket: str, tz: str) -> list[dict[str, Any]]:
    """`summarize` per bucket of the tasks' first call ({bucket} in {tz}), oldest first."""
    start = pc.floor_temporal(tasks["first_span"].cast(pa.timestamp("ns", tz)), unit=bucket, week_starts_monday=True)
    return [{"bucket": r.pop("key"), **r} for r in summarize(tasks, start)]


def dearest(store: Store, params: Mapping[str, Any], tasks: pa.Table, limit: int) -> list[dict[str, Any]]:
    """The `limit` tasks whose priced calls cost most (ties by trace id), with their roles and features."""
    top = tasks.sort_by([("cost_usd", "descending"), ("trace_id", "ascending")]).slice(0, limit).to_pylist()
    labels = {r["trace_id"]: r for r in store.query("task_labels", {**params, "traces": [t["trace_id"] for t in top]})} \
        if top else {}
    return [{"trace_id": t["trace_id"], "cost_usd": t["cost_usd"] if not t["unpriced_calls"] else None,
             "priced_cost_usd": t["cost_usd"], "calls": t["calls"], "unpriced_calls": t["unpriced_calls"],
             "roles": labels.get(t["trace_id"], {}).get("roles", []),
             "features": labels.get(t["trace_id"], {}).get("features", []),
             "first_span": t["first_span"], "last_span": t["last_span"]} for t in top]


def tasks_over_time(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    """GET tasks: cost per task over time (see the module docstring)."""
    params = task_params(q, tenant)
    bucket = parse_choice("bucket", q.get("bucket"), BUCKETS, "day")
    tz = timezone_name(q.get("tz"))
    tasks = task_costs(store, params)
    total = summarize(tasks, pa.nulls(tasks.num_rows, pa.int8()).fill_null(0))
    total = total[0] if total else {"tasks": 0, "unpriced_tasks": 0, "priced_tasks": 0, "total_usd": None,
                                    **{f"p{q}_usd": None for q in QUANTILES}}
    total.pop("key", None)
    return {"bucket": bucket, "tz": tz, "rows": [jsonable(r) for r in buckets(tasks, bucket, tz)],
            "total": jsonable(total)}


def tasks_top(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    """GET tasks/top: the dearest tasks in scope."""
    params = task_params(q, tenant)
    limit = parse_int("limit", q.get("limit"), 20, 1, 1_000)
    return {"rows": [jsonable(r) for r in dearest(store, params, task_costs(store, params), limit)]}
