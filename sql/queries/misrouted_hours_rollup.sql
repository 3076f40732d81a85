-- misrouted_hours over the hourly rollup (clean hours of [{h0}, {h1}) not in {dirty}). The rollup
-- keeps token sums over all calls and counts the unpriced ones, so the priced calls' tokens are
-- exact for a rollup row whose calls are all priced or all unpriced; `mixed` names the hours where
-- a row is neither (a price that starts mid-hour), which the caller reads from the raw spans instead.
SELECT
    role,
    tier,
    model,
    provider,
    service_tier,
    processing,
    toUnixTimestamp64Nano(toDateTime64(hour, 9, 'UTC')) AS start_ns,
    sum(spans) AS calls,
    sum(spans - unpriced_spans) AS priced_calls,
    sumIf(input_tokens, unpriced_spans = 0) AS input_tokens,
    sumIf(output_tokens, unpriced_spans = 0) AS output_tokens,
    sumIf(cache_read_tokens, unpriced_spans = 0) AS cache_read_tokens,
    sumIf(cache_write_tokens, unpriced_spans = 0) AS cache_write_tokens,
    sum(cost_usd) AS cost_usd,
    max(unpriced_spans > 0 AND unpriced_spans < spans) AS mixed
FROM v_rollup(
    tenant = {tenant:String}, h0 = {h0:DateTime('UTC')}, h1 = {h1:DateTime('UTC')},
    dirty = {dirty:Array(DateTime('UTC'))}, roles = {roles:Array(String)}, teams = {teams:Array(String)},
    services = {services:Array(String)}, environments = {environments:Array(String)})
WHERE has({tiers:Array(String)}, tier)
GROUP BY role, tier, model, provider, service_tier, processing, hour
SETTINGS prefer_column_name_to_alias = 1
