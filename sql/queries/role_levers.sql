-- The routing levers per role and tier, in {bucket} buckets ('hour', 'day', 'week' or 'month' in
-- time zone {tz}): calls and spend, the calls the router retried (escalations, failovers) and what
-- they cost, latency-tolerant calls, prompt-cache reads and what they saved, and what batch
-- processing would save. Written over the rollup's additive columns (v_spans_unscored names them
-- for raw spans), so rollup.read runs it over v_rollup for clean hours.
SELECT
    multiIf({bucket:String} = 'hour', toStartOfHour(start_time, {tz:String}),
            {bucket:String} = 'day', toDateTime(toStartOfDay(start_time, {tz:String}), {tz:String}),
            {bucket:String} = 'week', toDateTime(toMonday(start_time, {tz:String}), {tz:String}),
            toDateTime(toStartOfMonth(start_time, {tz:String}), {tz:String})) AS bucket,
    role,
    tier,
    sum(spans) AS spans,
    sum(unpriced_spans) AS unpriced_spans,
    sum(input_tokens) AS input_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    $lever_sums
FROM v_spans_unscored($scope)
GROUP BY bucket, role, tier
SETTINGS prefer_column_name_to_alias = 1
