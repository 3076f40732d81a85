-- spend_timeseries over the hourly rollup (clean hours of [{h0}, {h1}) not in {dirty}). Only valid
-- when {tz} is a whole number of hours from UTC, so every bucket is a union of UTC hours.
SELECT
    multiIf({bucket:String} = 'hour', toStartOfHour(hour, {tz:String}),
            {bucket:String} = 'day', toDateTime(toStartOfDay(hour, {tz:String}), {tz:String}),
            {bucket:String} = 'week', toDateTime(toMonday(hour, {tz:String}), {tz:String}),
            toDateTime(toStartOfMonth(hour, {tz:String}), {tz:String})) AS bucket,
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
    sum(cost_usd) AS cost_usd,
    sum(unpriced_spans) AS unpriced_spans,
    sum(quality_sum) AS quality_sum,
    sum(quality_n) AS quality_n
FROM v_rollup(
    tenant = {tenant:String}, h0 = {h0:DateTime('UTC')}, h1 = {h1:DateTime('UTC')},
    dirty = {dirty:Array(DateTime('UTC'))}, roles = {roles:Array(String)}, teams = {teams:Array(String)},
    services = {services:Array(String)}, environments = {environments:Array(String)})
GROUP BY bucket, series, series2
SETTINGS prefer_column_name_to_alias = 1
