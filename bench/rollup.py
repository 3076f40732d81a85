"""Where the time of a dashboard aggregation goes at 10M spans, and what the hourly rollup saves.

`where_time_goes(path)` times one aggregation (spend by role, last 30 days) in variants that remove
one cost at a time: the late-quality join, FINAL, and finally the raw rows altogether (the rollup,
collector/rollup.py, read the way the API reads it). Run it in its own process on a store no
collector has open.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SPEND_BY_ROLE = {
    "as shipped: v_spans (FINAL + late-quality join)": """
        SELECT role, count() AS spans, ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost, avg(quality) AS q
        FROM v_spans(tenant = 'default', since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
                     roles = [], teams = [], services = [], environments = [], parts = 1, part = 0)
        GROUP BY role SETTINGS prefer_column_name_to_alias = 1""",
    "FINAL, no quality join": """
        SELECT role, count(), sum(cost_usd), avg(quality_score) FROM llm_spans FINAL
        WHERE tenant = 'default' AND start_time >= {since:DateTime64(9, 'UTC')} AND start_time < {until:DateTime64(9, 'UTC')}
        GROUP BY role""",
    "no FINAL, no join (wrong under retries: shows the floor)": """
        SELECT role, count(), sum(cost_usd), avg(quality_score) FROM llm_spans
        WHERE tenant = 'default' AND start_time >= {since:DateTime64(9, 'UTC')} AND start_time < {until:DateTime64(9, 'UTC')}
        GROUP BY role""",
    "the late-quality aggregate alone (all events, no time bound)": """
        SELECT count() FROM (SELECT trace_id, span_id, argMax(score, (event_time, event_id)) FROM quality_events FINAL
        WHERE tenant = 'default' GROUP BY trace_id, span_id)""",
    "the hourly rollup as the API reads it (clean hours, latest refresh)": """
        SELECT role, sum(spans), sum(cost_usd), sum(quality_sum) / sum(quality_n) FROM spend_rollup
        WHERE tenant = 'default' AND hour >= {since:DateTime64(9, 'UTC')} AND hour < {until:DateTime64(9, 'UTC')}
          AND (hour, version) GLOBAL IN (SELECT hour, max(computed_at) FROM rollup_stamps WHERE tenant = 'default'
                                         GROUP BY hour)
        GROUP BY role""",
}


@dataclass
class Variant:
    label: str
    median_ms: float
    runs: int


@dataclass
class RollupCost:
    variants: list[Variant]


def _time(store, sql: str, params: dict, runs: int, budget_s: float) -> tuple[float, int]:  # noqa: ANN001
    from tierscope.collector.store.clickhouse import READ_SETTINGS

    times: list[float] = []
    started = time.monotonic()
    while len(times) < runs and (not times or time.monotonic() - started < budget_s):
        t0 = time.monotonic()
        store.rows(sql, params, READ_SETTINGS)  # as the API's named queries run
        times.append(time.monotonic() - t0)
    return statistics.median(times) * 1000, len(times)


def where_time_goes(path: str, runs: int = 3, budget_s: float = 10.0) -> RollupCost:
    """Time the variants on the store at `path` (its rollup filled by query.build_store)."""
    from tierscope.collector.store.clickhouse import Store

    store = Store(f"chdb:{path}")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    params = {"since": now - timedelta(days=30), "until": now}
    variants = []
    for label, sql in SPEND_BY_ROLE.items():
        ms, n = _time(store, sql, params, runs, budget_s)
        variants.append(Variant(label, ms, n))
    store.close()
    return RollupCost(variants)
