-- Spend over time in {bucket} buckets ('hour', 'day', 'week' or 'month', in time zone {tz}), split by
-- one dimension {split} (any of tierscope.terms.DIMENSIONS, or '' for none) and
-- optionally a second, {split2} (same choices; '' for none).
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
    count() AS spans,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    countIf(NOT priced) AS unpriced_spans,
    ifNull(sum(quality), 0) AS quality_sum,
    avg(quality) AS quality_mean,
    count(quality) AS quality_n
FROM v_spans(
    tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
    roles = {roles:Array(String)}, teams = {teams:Array(String)}, services = {services:Array(String)},
    environments = {environments:Array(String)})
GROUP BY bucket, series, series2
ORDER BY bucket, series, series2
SETTINGS prefer_column_name_to_alias = 1
