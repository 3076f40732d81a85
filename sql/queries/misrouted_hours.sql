-- The calls that may be misrouted, summed per (role, tier, model, provider, hour): enough to reprice
-- them exactly on a target whose price is one linear price for all time (cost is linear in tokens),
-- a few thousand rows instead of a million. Token sums are over the calls that have a price.
SELECT
    role,
    tier,
    model,
    provider,
    toUnixTimestamp64Nano(toDateTime64(toStartOfHour(start_time), 9, 'UTC')) AS start_ns,
    count() AS calls,
    countIf(priced) AS priced_calls,
    sumIf(input_tokens, priced) AS input_tokens,
    sumIf(output_tokens, priced) AS output_tokens,
    sumIf(cache_read_tokens, priced) AS cache_read_tokens,
    sumIf(cache_write_tokens, priced) AS cache_write_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd
FROM llm_spans FINAL
WHERE tenant = {tenant:String}
  AND start_time >= {since:DateTime64(9, 'UTC')}
  AND start_time < {until:DateTime64(9, 'UTC')}
  AND (empty({roles:Array(String)}) OR has({roles:Array(String)}, role))
  AND (empty({teams:Array(String)}) OR has({teams:Array(String)}, team))
  AND (empty({services:Array(String)}) OR has({services:Array(String)}, service))
  AND (empty({environments:Array(String)}) OR has({environments:Array(String)}, environment))
  AND has({tiers:Array(String)}, tier)
GROUP BY role, tier, model, provider, start_ns
ORDER BY role, tier, model, provider, start_ns
