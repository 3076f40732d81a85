-- The calls that may be misrouted, summed per (role, tier, model, provider, service tier,
-- processing, hour): enough to reprice
-- them exactly on a target (at the service tier they ran on) whose price is one linear price for all time (cost is linear in tokens),
-- far fewer rows than calls. Token sums are over the calls that have a price.
SELECT
    role,
    tier,
    model,
    provider,
    service_tier,
    processing,
    toUnixTimestamp64Nano(toDateTime64(toStartOfHour(start_time), 9, 'UTC')) AS start_ns,
    count() AS calls,
    countIf(priced) AS priced_calls,
    sumIf(input_tokens, priced) AS input_tokens,
    sumIf(output_tokens, priced) AS output_tokens,
    sumIf(cache_read_tokens, priced) AS cache_read_tokens,
    sumIf(cache_write_tokens, priced) AS cache_write_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd
FROM v_spans_unscored(
    tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
    roles = {roles:Array(String)}, teams = {teams:Array(String)}, services = {services:Array(String)},
    environments = {environments:Array(String)})
WHERE has({tiers:Array(String)}, tier)
GROUP BY role, tier, model, provider, service_tier, processing, start_ns
ORDER BY role, tier, model, provider, service_tier, processing, start_ns
