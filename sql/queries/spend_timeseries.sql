-- Spend over time in {bucket} buckets ('hour', 'day', 'week' or 'month', in time zone {tz}), split by
-- one dimension {split} (any of tierscope.terms.DIMENSIONS, or '' for none) and
-- optionally a second, {split2} (same choices; '' for none). Over v_rollup (rollup.read) only when
-- {tz} is a whole number of hours from UTC, so every bucket is a union of UTC hours.
SELECT
    multiIf({bucket:String} = 'hour', toStartOfHour(start_time, {tz:String}),
            {bucket:String} = 'day', toDateTime(toStartOfDay(start_time, {tz:String}), {tz:String}),
            {bucket:String} = 'week', toDateTime(toMonday(start_time, {tz:String}), {tz:String}),
            toDateTime(toStartOfMonth(start_time, {tz:String}), {tz:String})) AS bucket,
    multiIf({split:String} = 'role', role, {split:String} = 'tier', tier, {split:String} = 'model', model,
            {split:String} = 'team', team, {split:String} = 'provider', provider,
            {split:String} = 'service', service, {split:String} = 'feature', feature,
            {split:String} = 'environment', environment, {split:String} = 'service_tier', service_tier,
            {split:String} = 'processing', processing, '') AS series,
    multiIf({split2:String} = 'role', role, {split2:String} = 'tier', tier, {split2:String} = 'model', model,
            {split2:String} = 'team', team, {split2:String} = 'provider', provider,
            {split2:String} = 'service', service, {split2:String} = 'feature', feature,
            {split2:String} = 'environment', environment, {split2:String} = 'service_tier', service_tier,
            {split2:String} = 'processing', processing, '') AS series2,
    sum(spans) AS spans,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    sum(unpriced_spans) AS unpriced_spans,
    sum(quality_sum) AS quality_sum,
    sum(quality_n) AS quality_n
FROM v_spans($scope)
GROUP BY bucket, series, series2
SETTINGS prefer_column_name_to_alias = 1
