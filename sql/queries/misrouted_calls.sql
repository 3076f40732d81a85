-- The individual calls that may be misrouted (given roles on given tiers), with the token counts
-- needed to reprice each one exactly on another model. Quality is not needed per call, so this
-- reads llm_spans FINAL with v_spans' own scope filters instead of paying for its late-quality join.
SELECT
    role,
    tier,
    model,
    provider,
    toUnixTimestamp64Nano(start_time) AS start_ns,
    input_tokens,
    output_tokens,
    cache_read_tokens,
    cache_write_tokens,
    cost_usd,
    priced
FROM llm_spans FINAL
WHERE tenant = {tenant:String}
  AND start_time >= {since:DateTime64(9, 'UTC')}
  AND start_time < {until:DateTime64(9, 'UTC')}
  AND (empty({roles:Array(String)}) OR has({roles:Array(String)}, role))
  AND (empty({teams:Array(String)}) OR has({teams:Array(String)}, team))
  AND (empty({services:Array(String)}) OR has({services:Array(String)}, service))
  AND (empty({environments:Array(String)}) OR has({environments:Array(String)}, environment))
  AND has({tiers:Array(String)}, tier)
  AND ({model:String} = '' OR model = {model:String})
  AND ({provider:String} = '' OR provider = {provider:String})
ORDER BY role, tier, model, provider, start_time, trace_id, span_id
