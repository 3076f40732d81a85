-- The service tier that served each call ("priority", "flex", "default", ... as the provider
-- reported it) and its processing mode ("batch" for Batch API work): both select the price
-- (genai-prices' price variants) and both are dimensions spend is grouped by. Rows stored before
-- read '' for both (priced at the default, as they were); `tierscope reprice` fills them in from
-- the span attributes they kept and re-costs them.
ALTER TABLE llm_spans
    ADD COLUMN IF NOT EXISTS service_tier LowCardinality(String),
    ADD COLUMN IF NOT EXISTS processing LowCardinality(String);

-- The rollup groups by the two as well: they join its sort key (a ReplacingMergeTree row per
-- dimension combination), added in the same statement as the columns, as ClickHouse requires.
-- It also counts the failed calls (status ERROR) of each group.
ALTER TABLE spend_hourly
    ADD COLUMN IF NOT EXISTS service_tier LowCardinality(String),
    ADD COLUMN IF NOT EXISTS processing LowCardinality(String),
    ADD COLUMN IF NOT EXISTS failed_spans UInt64 AFTER unpriced_tokens,
    MODIFY ORDER BY (tenant, hour, role, tier, model, provider, team, feature, service, environment, service_tier,
                     processing);

-- Rollup rows computed before hold no failed-call count: every stored hour is dirty again, and the
-- collector's refresher fills it anew (raw spans answer for it meanwhile).
INSERT INTO rollup_marks
SELECT DISTINCT tenant, toStartOfHour(start_time), toUnixTimestamp64Nano(now64(9))
FROM llm_spans;
