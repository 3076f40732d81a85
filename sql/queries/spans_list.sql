-- Individual LLM spans for drill-down, newest first, optionally narrowed to one tier/model/provider,
-- and to the spans whose trace_id || span_id is in {keys} unless it is empty (a page found by spans_keys).
SELECT
    trace_id, span_id, parent_span_id, name, start_time, end_time,
    dateDiff('millisecond', start_time, end_time) AS duration_ms,
    status_code, error_type, service, environment, role, tier, team, feature, operation, provider,
    model, service_tier, processing, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
    reasoning_tokens,
    cost_usd, priced, price_source, quality, quality_from, router_propensity, escalated_from,
    failover_from, failover_reason, cache_saving_usd, batch_saving_usd, deadline
FROM v_spans($scope)
WHERE ({tier:String} = '' OR tier = {tier:String})
  AND ({model:String} = '' OR model = {model:String})
  AND ({provider:String} = '' OR provider = {provider:String})
  AND ({trace_id:String} = '' OR trace_id = {trace_id:String})
  AND (empty({keys:Array(String)}) OR has({keys:Array(String)}, concat(trace_id, span_id)))
ORDER BY start_time DESC, trace_id, span_id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}
