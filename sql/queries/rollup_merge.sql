-- Sum {tenant}'s hours in [{since}, {until}) from their 5-minute units' rollup rows, stamped
-- {version}: exactly the unit refreshes ({units}[i] as computed by the refresh {versions}[i]) the
-- refresher found clean, no other, so the hour's stamp can name them (rollup_stamp's basis) and the
-- hour stops being clean as soon as one of them is recomputed. Reads no span. Slice {part} of
-- {parts} of the dimension combinations, as rollup_fill. `$sums` and `$lever_sums` list the columns
-- in the order written here (collector/store/clickhouse.py).
INSERT INTO spend_rollup
    (tenant, hour, role, tier, model, provider, team, feature, service, environment, service_tier, processing, spans,
     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, unpriced_spans,
     unpriced_tokens, failed_spans, quality_n, cost_usd, quality_sum, escalated_spans, failover_spans, async_spans,
     saving_unknown_spans, escalated_cost_usd, failover_cost_usd, cache_saving_usd, batch_saving_usd, first_span,
     last_span, minutes, version)
SELECT
    tenant, toStartOfHour(hour) AS hour_start, role, tier, model, provider, team, feature, service, environment,
    service_tier, processing,
    $sums,
    $lever_sums,
    min(first_span) AS first_span,
    max(last_span) AS last_span,
    60 AS minutes,
    {version:UInt64} AS version
FROM spend_rollup
WHERE tenant = {tenant:String}
  AND minutes = 5
  AND hour >= {since:DateTime('UTC')} AND hour < {until:DateTime('UTC')}
  AND (hour, version) IN (SELECT arrayJoin(arrayZip({units:Array(DateTime('UTC'))}, {versions:Array(UInt64)})))
  AND ({parts:UInt64} <= 1
       OR cityHash64(role, tier, model, provider, team, feature, service, environment) % {parts:UInt64} = {part:UInt64})
GROUP BY tenant, hour_start, role, tier, model, provider, team, feature, service, environment, service_tier, processing
SETTINGS prefer_column_name_to_alias = 1, max_threads = 1
