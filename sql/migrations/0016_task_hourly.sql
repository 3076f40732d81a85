-- Cost per task (a task is one trace): additive sums per (tenant, hour, trace, role, feature, team,
-- service, environment), the key the read API's filters and the per-task reads need. Computed by the
-- rollup refresher from llm_spans FINAL (v_spans_unscored) for the same dirty hours as
-- spend_hourly, stamped with the same `version`, so it is exact under retried batches and reprices
-- in the same way (collector/store/rollup.py); readers use only each hour's latest refresh
-- (v_task_rollup). A trace that spans hours has a row per hour; its cost is their sum.
CREATE TABLE IF NOT EXISTS task_hourly
(
    tenant         LowCardinality(String),
    hour           DateTime('UTC'),
    trace_id       String,
    role           LowCardinality(String),
    feature        LowCardinality(String),
    team           LowCardinality(String),
    service        LowCardinality(String),
    environment    LowCardinality(String),
    spans          UInt64,
    unpriced_spans UInt64,
    input_tokens   UInt64,
    output_tokens  UInt64,
    cost_usd       Decimal(38, 18),
    first_span     DateTime64(9, 'UTC'),
    last_span      DateTime64(9, 'UTC'),
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, trace_id, role, feature, team, service, environment);

-- Every hour already stored is recomputed once, so the new table is filled behind it (reads of
-- those hours come from the raw spans until then, exact either way).
INSERT INTO rollup_marks
SELECT DISTINCT tenant, toStartOfHour(start_time), toUnixTimestamp64Nano(now64(9))
FROM llm_spans;
