-- The individual calls that may be misrouted (given roles on given tiers), with the token counts
-- needed to reprice each one exactly on another model, at the service tier it ran on. Quality is not needed per call, so this
-- reads v_spans_unscored instead of paying for v_spans' late-quality join.
SELECT
    role,
    tier,
    model,
    provider,
    service_tier,
    processing,
    toUnixTimestamp64Nano(start_time) AS start_ns,
    input_tokens,
    output_tokens,
    cache_read_tokens,
    cache_write_tokens,
    cost_usd,
    priced
FROM v_spans_unscored($scope)
WHERE has({tiers:Array(String)}, tier)
  AND ({model:String} = '' OR model = {model:String})
  AND ({provider:String} = '' OR provider = {provider:String})
  AND (empty({service_tiers:Array(String)}) OR has({service_tiers:Array(String)}, service_tier))
  AND (empty({processing_modes:Array(String)}) OR has({processing_modes:Array(String)}, processing))
ORDER BY role, tier, model, provider, service_tier, processing, start_time, trace_id, span_id
