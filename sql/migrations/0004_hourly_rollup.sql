-- Aggregate reads that stay fast however many spans are stored, exact to the last decimal.
--
-- 1. llm_spans is re-keyed by hour first: (tenant, hour, trace_id, span_id). A retried span keeps
--    its start time, so it still lands on the same key and ReplacingMergeTree still keeps one copy;
--    a read of a few hours now touches only those hours' granules. A bloom filter on trace_id keeps
--    the trace view a point lookup. Existing rows are copied over (idempotent if interrupted).
DROP TABLE IF EXISTS llm_spans_v4;

CREATE TABLE llm_spans_v4 AS llm_spans
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(start_time)
ORDER BY (tenant, toStartOfHour(start_time), trace_id, span_id);

ALTER TABLE llm_spans_v4 ADD INDEX IF NOT EXISTS trace_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 1;

INSERT INTO llm_spans_v4 SELECT * FROM llm_spans;

EXCHANGE TABLES llm_spans AND llm_spans_v4;

DROP TABLE llm_spans_v4;

-- 2. The hourly rollup: additive sums per (tenant, hour, dimensions), computed *from* v_spans (so
--    FINAL deduplication and late quality are already applied) one hour at a time, never fed by an
--    insert trigger (that would count a retried batch twice). `version` is the refresh that wrote
--    the row; readers use only the rows of each hour's latest refresh (rollup_hours).
CREATE TABLE IF NOT EXISTS spend_hourly
(
    tenant             LowCardinality(String),
    hour               DateTime('UTC'),
    role               LowCardinality(String),
    tier               LowCardinality(String),
    model              LowCardinality(String),
    provider           LowCardinality(String),
    team               LowCardinality(String),
    feature            LowCardinality(String),
    service            LowCardinality(String),
    environment        LowCardinality(String),
    spans              UInt64,
    input_tokens       UInt64,
    output_tokens      UInt64,
    cache_read_tokens  UInt64,
    cache_write_tokens UInt64,
    reasoning_tokens   UInt64,
    cost_usd           Decimal(38, 18),
    unpriced_spans     UInt64,
    unpriced_tokens    UInt64,
    quality_sum        Float64,
    quality_n          UInt64,
    first_span         DateTime64(9, 'UTC'),
    last_span          DateTime64(9, 'UTC'),
    version            UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, role, tier, model, provider, team, feature, service, environment);

-- 3. Which hours changed since their last refresh. Every insert of spans (and of late quality, for
--    the hour of the graded span) stamps its hours *after* the insert with the store's clock; a
--    refresh stamps the hours it computed with the clock read *before* it started reading. An hour
--    is clean when its latest refresh is newer than its latest change; readers take clean hours
--    from spend_hourly and everything else from v_spans, so a read is never stale.
CREATE TABLE IF NOT EXISTS rollup_marks
(
    tenant    LowCardinality(String),
    hour      DateTime('UTC'),
    marked_at UInt64
)
ENGINE = ReplacingMergeTree(marked_at)
ORDER BY (tenant, hour);

CREATE TABLE IF NOT EXISTS rollup_hours
(
    tenant      LowCardinality(String),
    hour        DateTime('UTC'),
    computed_at UInt64
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (tenant, hour);

-- Every hour already stored starts dirty; the collector's refresher fills the rollup behind it.
INSERT INTO rollup_marks
SELECT DISTINCT tenant, toStartOfHour(start_time), toUnixTimestamp64Nano(now64(9))
FROM llm_spans;
