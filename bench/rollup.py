"""Why dashboard queries are slow at 10M spans, and a prototype of the fix: an hourly rollup.

`where_time_goes(path)` times one dashboard aggregation (spend by role, last 30 days) in variants
that remove one cost at a time: the late-quality join, FINAL, and finally the raw rows altogether
(the rollup). Run it in its own process on a store no collector has open.

The rollup (`spend_hourly`) never double counts because it is *computed from* v_spans — FINAL and
the late-quality join included — one sealed hour at a time, into a ReplacingMergeTree keyed by
(tenant, hour, dimensions) with a version: recomputing an hour replaces its rows, so a retried
batch, a late span or a late quality event is fixed by recomputing the hours it touched (the
writer would record those hours; see the report). Reads = the rollup for sealed, clean hours +
v_spans for the rest (the open hour, dirty hours, edges not on an hour boundary).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ROLLUP_DDL = """
CREATE TABLE IF NOT EXISTS spend_hourly
(
    tenant LowCardinality(String), hour DateTime('UTC'),
    role LowCardinality(String), tier LowCardinality(String), model LowCardinality(String),
    provider LowCardinality(String), team LowCardinality(String), feature LowCardinality(String),
    service LowCardinality(String), environment LowCardinality(String),
    spans UInt64, input_tokens UInt64, output_tokens UInt64, cache_read_tokens UInt64,
    cache_write_tokens UInt64, reasoning_tokens UInt64, cost_usd Decimal(38, 18), unpriced_spans UInt64,
    unpriced_tokens UInt64, quality_sum Float64, quality_n UInt64,
    first_span DateTime64(9, 'UTC'), last_span DateTime64(9, 'UTC'), version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, hour, role, tier, model, provider, team, feature, service, environment)
"""

# Recompute hours [since, until) from v_spans: exact (FINAL, late quality), idempotent (replaces).
ROLLUP_FILL = """
INSERT INTO spend_hourly
SELECT tenant, toStartOfHour(start_time) AS hour, role, tier, model, provider, team, feature, service, environment,
       count(), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
       sum(reasoning_tokens), ifNull(sum(cost_usd), toDecimal128(0, 18)), countIf(NOT priced),
       sumIf(input_tokens + output_tokens, NOT priced), sum(ifNull(quality, 0)), count(quality),
       min(start_time), max(start_time), {version:UInt64}
FROM v_spans(tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
             roles = [], teams = [], services = [], environments = [])
GROUP BY tenant, hour, role, tier, model, provider, team, feature, service, environment
SETTINGS prefer_column_name_to_alias = 1
"""

SPEND_BY_ROLE = {
    "as shipped: v_spans (FINAL + late-quality join)": """
        SELECT role, count() AS spans, ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost, avg(quality) AS q
        FROM v_spans(tenant = 'default', since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
                     roles = [], teams = [], services = [], environments = [])
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
    "hourly rollup (spend_hourly FINAL)": """
        SELECT role, sum(spans), sum(cost_usd), sum(quality_sum) / sum(quality_n) FROM spend_hourly FINAL
        WHERE tenant = 'default' AND hour >= {since:DateTime64(9, 'UTC')} AND hour < {until:DateTime64(9, 'UTC')}
        GROUP BY role""",
}


@dataclass
class Variant:
    label: str
    median_ms: float
    runs: int


@dataclass
class RollupCost:
    fill_s: float
    days: int
    rows: int
    spans: int
    variants: list[Variant]


def _time(store, sql: str, params: dict, runs: int, budget_s: float) -> tuple[float, int]:  # noqa: ANN001
    times: list[float] = []
    started = time.monotonic()
    while len(times) < runs and (not times or time.monotonic() - started < budget_s):
        t0 = time.monotonic()
        store.rows(sql, params)
        times.append(time.monotonic() - t0)
    return statistics.median(times) * 1000, len(times)


def where_time_goes(path: str, runs: int = 3, budget_s: float = 10.0, days: int = 31) -> RollupCost:
    """Time the variants on the store at `path`, after building the rollup for its last `days` days."""
    from tierscope.collector.store import Store

    store = Store(f"chdb:{path}")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    params = {"since": now - timedelta(days=30), "until": now}
    store.command(ROLLUP_DDL)
    t0 = time.monotonic()
    store.command(ROLLUP_FILL, {"tenant": "default", "since": now - timedelta(days=days), "until": now,
                                "version": time.time_ns()})
    fill_s = time.monotonic() - t0
    rows = store.rows("SELECT count() FROM spend_hourly")[0][0]
    spans = store.rows("SELECT sum(spans) FROM spend_hourly FINAL")[0][0]
    variants = []
    for label, sql in SPEND_BY_ROLE.items():
        ms, n = _time(store, sql, params, runs, budget_s)
        variants.append(Variant(label, ms, n))
    store.close()
    return RollupCost(fill_s, days, int(rows), int(spans or 0), variants)
