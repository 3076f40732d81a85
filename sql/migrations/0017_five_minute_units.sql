-- The rollup in two sizes: 5-minute units computed from the spans, hours summed from their units.
--
-- A read takes whole clean hours from the hour rows, the clean units around them (the open hour, an
-- hour changed since, the ragged edges of its range) from the unit rows, and only what is left (the
-- open unit, a unit changed and not yet recomputed, less than a unit at either end) from the raw
-- spans: a few minutes of spans however many the open hour holds. No refresh reads more than a few
-- units of spans at a time, so an hour's end costs nothing special (collector/store/rollup.py).
--
-- 1. llm_spans is re-keyed by 5-minute unit first (a read or fill of a unit touches its granules
--    only). A retried span keeps its start time, so it still lands on the same key. Existing rows
--    are copied over (idempotent if interrupted).
DROP TABLE IF EXISTS llm_spans_v17;

CREATE TABLE llm_spans_v17 AS llm_spans
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(start_time)
ORDER BY (tenant, toStartOfFiveMinutes(start_time), trace_id, span_id);

ALTER TABLE llm_spans_v17 ADD INDEX IF NOT EXISTS trace_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 1;

ALTER TABLE llm_spans_v17 MODIFY SETTING
    vertical_merge_algorithm_min_rows_to_activate = 1,
    vertical_merge_algorithm_min_columns_to_activate = 1;

INSERT INTO llm_spans_v17 SELECT * FROM llm_spans;

EXCHANGE TABLES llm_spans AND llm_spans_v17;

DROP TABLE llm_spans_v17;

-- 2. The rollup's tables, new: rows of two sizes, `minutes` 5 (a unit) or 60 (an hour), `hour` the
--    start of the row's unit or hour. The size leads the key, so a read of many hours reads hour rows
--    only, and a read of a few units only those units. An hour's stamp also carries `basis`, a hash
--    of the unit stamps it was summed from: the hour is clean while its units are clean and are still
--    those stamps (collector/store/rollup.py). Computed from v_spans, never fed by an insert trigger
--    (that would count a retried batch twice); readers use each part's latest refresh only.
CREATE TABLE IF NOT EXISTS spend_rollup
(
    tenant               LowCardinality(String),
    minutes              UInt8,
    hour                 DateTime('UTC'),
    role                 LowCardinality(String),
    tier                 LowCardinality(String),
    model                LowCardinality(String),
    provider             LowCardinality(String),
    team                 LowCardinality(String),
    feature              LowCardinality(String),
    service              LowCardinality(String),
    environment          LowCardinality(String),
    service_tier         LowCardinality(String),
    processing           LowCardinality(String),
    spans                UInt64,
    input_tokens         UInt64,
    output_tokens        UInt64,
    cache_read_tokens    UInt64,
    cache_write_tokens   UInt64,
    reasoning_tokens     UInt64,
    cost_usd             Decimal(38, 18),
    unpriced_spans       UInt64,
    unpriced_tokens      UInt64,
    failed_spans         UInt64,
    quality_sum          Float64,
    quality_n            UInt64,
    escalated_spans      UInt64,
    failover_spans       UInt64,
    async_spans          UInt64,
    saving_unknown_spans UInt64,
    escalated_cost_usd   Decimal(38, 18),
    failover_cost_usd    Decimal(38, 18),
    cache_saving_usd     Decimal(38, 18),
    batch_saving_usd     Decimal(38, 18),
    first_span           DateTime64(9, 'UTC'),
    last_span            DateTime64(9, 'UTC'),
    version              UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, minutes, hour, role, tier, model, provider, team, feature, service, environment, service_tier,
          processing);

-- Cost per task (a task is one trace): additive sums per (tenant, unit or hour, trace, role, feature,
-- team, service, environment). A trace that spans units or hours has a row in each; its cost is their sum.
CREATE TABLE IF NOT EXISTS task_rollup
(
    tenant         LowCardinality(String),
    minutes        UInt8,
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
ORDER BY (tenant, minutes, hour, trace_id, role, feature, team, service, environment);

-- Each refresh of a unit or hour: the refresh that wrote its rows (`computed_at`, the store's clock
-- read before it read anything). A part is clean when its latest refresh is newer than its latest
-- change (rollup_marks: per unit, stamped after the insert that changed it).
CREATE TABLE IF NOT EXISTS rollup_stamps
(
    tenant      LowCardinality(String),
    minutes     UInt8,
    hour        DateTime('UTC'),
    computed_at UInt64,
    basis       UInt64
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (tenant, minutes, hour);

-- 3. Marks are per unit from now on. Everything stored is recomputed once, in units then hours (reads
--    come from the raw spans until then, exact either way); the hour-only tables go.
TRUNCATE TABLE rollup_marks;

INSERT INTO rollup_marks
SELECT DISTINCT tenant, toStartOfFiveMinutes(start_time), toUnixTimestamp64Nano(now64(9))
FROM llm_spans;

DROP TABLE IF EXISTS spend_hourly;

DROP TABLE IF EXISTS task_hourly;

DROP TABLE IF EXISTS rollup_hours;
