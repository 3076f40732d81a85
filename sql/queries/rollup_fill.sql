-- Recompute the rollup rows of {tenant}'s hours in [{since}, {until}) from v_spans (deduplicated,
-- late quality applied), stamped {version}; rollup_hours is stamped after, by the refresher. Slice
-- {part} of {parts} of the dimension combinations (v_spans_part): the refresher runs one statement
-- per slice so that none groups more than rollup.GROUPS_PER_FILL combinations. One thread, since
-- this runs in the background of a collector under load and one thread holds less memory
-- (bench/results/experiments.md, "Soak RSS"). tests/integration/test_rollup.py checks every
-- aggregate read from the rollup equals the same read from v_spans.
INSERT INTO spend_hourly
    (tenant, hour, role, tier, model, provider, team, feature, service, environment, service_tier, processing, spans,
     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, unpriced_spans,
     unpriced_tokens, failed_spans, quality_sum, quality_n, first_span, last_span, version)
SELECT
    tenant,
    toStartOfHour(start_time) AS hour,
    role, tier, model, provider, team, feature, service, environment, service_tier, processing,
    count() AS spans,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    countIf(NOT priced) AS unpriced_spans,
    sumIf(input_tokens + output_tokens, NOT priced) AS unpriced_tokens,
    countIf(status_code = 'ERROR') AS failed_spans,
    sum(ifNull(quality, 0)) AS quality_sum,
    count(quality) AS quality_n,
    min(start_time) AS first_span,
    max(start_time) AS last_span,
    {version:UInt64} AS version
FROM v_spans_part(
    tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
    roles = [], teams = [], services = [], environments = [], parts = {parts:UInt64}, part = {part:UInt64})
GROUP BY tenant, hour, role, tier, model, provider, team, feature, service, environment, service_tier, processing
SETTINGS prefer_column_name_to_alias = 1, max_threads = 1
