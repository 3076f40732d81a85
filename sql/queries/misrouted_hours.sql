-- The calls that may be misrouted, summed per (role, tier, model, provider, service tier,
-- processing, hour): enough to reprice them exactly on a target (at the service tier they ran on)
-- whose price is one linear price for all time (cost is linear in tokens), far fewer rows than
-- calls. Token sums are over the calls that have a price. Over v_rollup for clean hours and units
-- (`hour` is then the row's hour or unit, summed into its hour): a rollup
-- row sums the tokens of all its calls and counts the unpriced ones, so its priced calls' tokens
-- are exact when its calls are all priced or all unpriced; `mixed` names the hours where a row is
-- neither (a price that starts mid-unit), which the caller reads from the raw spans instead (a
-- span alone is never mixed).
SELECT
    role, tier, model, provider, service_tier, processing,
    toUnixTimestamp64Nano(toDateTime64(toStartOfHour(hour), 9, 'UTC')) AS start_ns,
    sum(spans) AS calls,
    sum(spans - unpriced_spans) AS priced_calls,
    sumIf(input_tokens, unpriced_spans = 0) AS input_tokens,
    sumIf(output_tokens, unpriced_spans = 0) AS output_tokens,
    sumIf(cache_read_tokens, unpriced_spans = 0) AS cache_read_tokens,
    sumIf(cache_write_tokens, unpriced_spans = 0) AS cache_write_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    max(unpriced_spans > 0 AND unpriced_spans < spans) AS mixed
FROM v_spans_unscored($scope)
WHERE has({tiers:Array(String)}, tier)
GROUP BY role, tier, model, provider, service_tier, processing, start_ns
SETTINGS prefer_column_name_to_alias = 1
