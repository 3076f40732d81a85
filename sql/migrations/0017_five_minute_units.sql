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

-- 2. Rollup rows and their stamps say which size they are: `hour` is the start of the row's unit,
--    `minutes` its length (5 or 60). An hour's stamp also carries `basis`, a hash of the unit stamps
--    it was summed from: the hour is clean while its units are clean and are still those stamps.
ALTER TABLE spend_hourly
    ADD COLUMN IF NOT EXISTS minutes UInt8,
    MODIFY ORDER BY (tenant, hour, role, tier, model, provider, team, feature, service, environment, service_tier,
                     processing, minutes);

ALTER TABLE task_hourly
    ADD COLUMN IF NOT EXISTS minutes UInt8,
    MODIFY ORDER BY (tenant, hour, trace_id, role, feature, team, service, environment, minutes);

ALTER TABLE rollup_hours
    ADD COLUMN IF NOT EXISTS minutes UInt8,
    ADD COLUMN IF NOT EXISTS basis UInt64 DEFAULT 0,
    MODIFY ORDER BY (tenant, hour, minutes);

-- 3. Marks are per unit from now on. Everything stored is recomputed once, in units then hours (reads
--    come from the raw spans until then, exact either way).
TRUNCATE TABLE spend_hourly;

TRUNCATE TABLE task_hourly;

TRUNCATE TABLE rollup_hours;

TRUNCATE TABLE rollup_marks;

INSERT INTO rollup_marks
SELECT DISTINCT tenant, toStartOfFiveMinutes(start_time), toUnixTimestamp64Nano(now64(9))
FROM llm_spans;
