-- The routing levers beyond the tier (collector/read/levers.py):
-- * each span's cache and batch savings, priced at ingest with the span's cost (collector/pricing/prices.py):
--   cache_saving_usd = cache-read tokens x (input price - cache-read price), what the prompt cache saved;
--   batch_saving_usd = cost - the cost at genai-prices' batch price, what batch processing would save
--   (0 for batch work and models without a batch price). NULL where unpriced, and on rows stored before
--   this migration until `tierscope reprice` fills them in.
-- * `deadline`: "async" for latency-tolerant work (`role(..., deadline="async")`).
ALTER TABLE llm_spans
    ADD COLUMN IF NOT EXISTS cache_saving_usd Nullable(Decimal(38, 18)),
    ADD COLUMN IF NOT EXISTS batch_saving_usd Nullable(Decimal(38, 18)),
    ADD COLUMN IF NOT EXISTS deadline LowCardinality(String);

-- The hourly rollup sums them per dimension combination, with the calls the router retried: escalations
-- (a failed check retried one tier up) and failovers (a provider error retried on another model), and what
-- those retries cost.
ALTER TABLE spend_hourly
    ADD COLUMN IF NOT EXISTS escalated_spans UInt64,
    ADD COLUMN IF NOT EXISTS failover_spans UInt64,
    ADD COLUMN IF NOT EXISTS async_spans UInt64,
    ADD COLUMN IF NOT EXISTS saving_unknown_spans UInt64,
    ADD COLUMN IF NOT EXISTS escalated_cost_usd Decimal(38, 18),
    ADD COLUMN IF NOT EXISTS failover_cost_usd Decimal(38, 18),
    ADD COLUMN IF NOT EXISTS cache_saving_usd Decimal(38, 18),
    ADD COLUMN IF NOT EXISTS batch_saving_usd Decimal(38, 18);

-- Rollup rows computed before hold none of these: every stored hour is dirty again, and the
-- collector's refresher fills it anew (raw spans answer for it meanwhile).
INSERT INTO rollup_marks
SELECT DISTINCT tenant, toStartOfHour(start_time), toUnixTimestamp64Nano(now64(9))
FROM llm_spans;
