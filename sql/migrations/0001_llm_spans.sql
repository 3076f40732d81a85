-- One row per LLM span. Keyed by (tenant, 5-minute unit, trace_id, span_id): an OTLP client that
-- retries a batch writes the same key again (a span keeps its start time) and ReplacingMergeTree keeps
-- one row (the newest ingested_at), so every query reads through FINAL (the v_spans view) and never
-- double-counts a dollar. The unit first keeps a read of a few minutes to those minutes' granules
-- (the rollup's raw reads and fills are that size); the bloom filter keeps a trace lookup cheap.
-- (Existing stores are re-keyed by migrations 0004 and 0017.)
CREATE TABLE IF NOT EXISTS llm_spans
(
    tenant                LowCardinality(String),
    trace_id              String,
    span_id               String,
    parent_span_id        String,
    name                  String,
    start_time            DateTime64(9, 'UTC'),
    end_time              DateTime64(9, 'UTC'),
    status_code           LowCardinality(String),
    error_type            LowCardinality(String),
    service               LowCardinality(String),
    environment           LowCardinality(String),
    role                  LowCardinality(String),
    tier                  LowCardinality(String),
    team                  LowCardinality(String),
    feature               LowCardinality(String),
    agent_name            LowCardinality(String),
    conversation_id       String,
    operation             LowCardinality(String),
    provider              LowCardinality(String),
    request_model         LowCardinality(String),
    response_model        LowCardinality(String),
    model                 LowCardinality(String),
    input_tokens          UInt64,
    output_tokens         UInt64,
    cache_read_tokens     UInt64,
    cache_write_tokens    UInt64,
    reasoning_tokens      UInt64,
    cost_usd              Nullable(Decimal(38, 18)),
    priced                Bool,
    price_source          LowCardinality(String),
    price_version         LowCardinality(String),
    quality_score         Nullable(Float64),
    quality_source        LowCardinality(String),
    router_policy_version LowCardinality(String),
    router_propensity     Nullable(Float64),
    router_explored       Bool,
    escalated_from        LowCardinality(String),
    attributes            Map(LowCardinality(String), String),
    ingested_at           DateTime64(6, 'UTC'),
    INDEX trace_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(start_time)
ORDER BY (tenant, toStartOfFiveMinutes(start_time), trace_id, span_id);

-- Quality that arrives on its own (user feedback an hour later, an offline judge), keyed by the
-- day it reached the collector, then the graded span. It may arrive before or after that span;
-- queries join the latest event per span (sql/views/v_spans.sql; the key's day since 0018).
CREATE TABLE IF NOT EXISTS quality_events
(
    tenant      LowCardinality(String),
    trace_id    String,
    span_id     String,
    event_id    String,
    event_time  DateTime64(9, 'UTC'),
    score       Float64,
    source      LowCardinality(String),
    ingested_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (tenant, toStartOfDay(ingested_at), trace_id, span_id, event_id);
