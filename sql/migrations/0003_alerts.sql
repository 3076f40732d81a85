-- Paired cost + quality alert rules (both sides always armed) and their event history.
CREATE TABLE IF NOT EXISTS alert_rules
(
    tenant                 LowCardinality(String),
    rule_id                String,
    name                   String,
    role                   String,
    tier                   String,
    model                  String,
    team                   String,
    window_seconds         UInt32,
    cost_ceiling_usd       Nullable(Decimal(38, 18)),
    cost_pct_over_baseline Nullable(Float64),
    baseline_seconds       UInt32,
    quality_floor          Float64,
    quality_metric         LowCardinality(String),
    min_samples            UInt32,
    webhooks               Array(String),
    armed                  Bool,
    updated_at             DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (tenant, rule_id);

CREATE TABLE IF NOT EXISTS alert_events
(
    tenant       LowCardinality(String),
    event_id     String,
    rule_id      String,
    at           DateTime64(6, 'UTC'),
    kind         LowCardinality(String),
    side         LowCardinality(String),
    observed     Nullable(Float64),
    threshold    Nullable(Float64),
    samples      UInt64,
    window_start DateTime64(6, 'UTC'),
    window_end   DateTime64(6, 'UTC'),
    detail       String
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, rule_id, at, event_id);
