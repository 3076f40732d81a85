-- spend_by over the hourly rollup: the clean hours of [{h0}, {h1}) (those not in {dirty}), each
-- from its latest refresh. The caller adds v_spans for dirty hours and the range's ragged edges.
SELECT
    if(has({by:Array(String)}, 'role'), role, '') AS g_role,
    if(has({by:Array(String)}, 'tier'), tier, '') AS g_tier,
    if(has({by:Array(String)}, 'model'), model, '') AS g_model,
    if(has({by:Array(String)}, 'provider'), provider, '') AS g_provider,
    if(has({by:Array(String)}, 'team'), team, '') AS g_team,
    if(has({by:Array(String)}, 'feature'), feature, '') AS g_feature,
    if(has({by:Array(String)}, 'service'), service, '') AS g_service,
    if(has({by:Array(String)}, 'environment'), environment, '') AS g_environment,
    if(has({by:Array(String)}, 'service_tier'), service_tier, '') AS g_service_tier,
    if(has({by:Array(String)}, 'processing'), processing, '') AS g_processing,
    sum(spans) AS spans,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    sum(unpriced_spans) AS unpriced_spans,
    sum(unpriced_tokens) AS unpriced_tokens,
    sum(failed_spans) AS failed_spans,
    sum(quality_sum) AS quality_sum,
    sum(quality_n) AS quality_n
FROM v_rollup(
    tenant = {tenant:String}, h0 = {h0:DateTime('UTC')}, h1 = {h1:DateTime('UTC')},
    dirty = {dirty:Array(DateTime('UTC'))}, roles = {roles:Array(String)}, teams = {teams:Array(String)},
    services = {services:Array(String)}, environments = {environments:Array(String)})
GROUP BY g_role, g_tier, g_model, g_provider, g_team, g_feature, g_service, g_environment, g_service_tier, g_processing
SETTINGS prefer_column_name_to_alias = 1
