-- Recompute the rollup rows of {tenant}'s 5-minute units {units} (all in [{since}, {until})) from v_spans
-- (deduplicated, late quality applied), stamped {version}; rollup_stamps is stamped after, by the
-- refresher. The hours are summed from these rows later (rollup_merge). Slice
-- {part} of {parts} of the dimension combinations (v_spans_unscored): the refresher runs one
-- statement per slice so that none groups more than rollup.GROUPS_PER_FILL combinations. One
-- thread, since this runs in the background of a collector under load and one thread holds less
-- memory. `$sums` and `$lever_sums` list the columns in the order written here (collector/store/clickhouse.py).
-- tests/integration/test_rollup.py checks every aggregate read from the rollup equals the same
-- read from v_spans.
INSERT INTO spend_rollup
    (tenant, hour, role, tier, model, provider, team, feature, service, environment, service_tier, processing, spans,
     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, unpriced_spans,
     unpriced_tokens, failed_spans, quality_n, cost_usd, quality_sum, escalated_spans, failover_spans, async_spans,
     saving_unknown_spans, escalated_cost_usd, failover_cost_usd, cache_saving_usd, batch_saving_usd, first_span,
     last_span, minutes, version)
SELECT
    tenant, unit, role, tier, model, provider, team, feature, service, environment, service_tier, processing,
    $sums,
    $lever_sums,
    min(first_span) AS first_span,
    max(last_span) AS last_span,
    5 AS minutes,
    {version:UInt64} AS version
FROM v_spans(
    tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
    roles = [], teams = [], services = [], environments = [], parts = {parts:UInt64}, part = {part:UInt64})
WHERE has({units:Array(DateTime('UTC'))}, unit)
GROUP BY tenant, unit, role, tier, model, provider, team, feature, service, environment, service_tier, processing
SETTINGS prefer_column_name_to_alias = 1, max_threads = 1
