-- Spend, calls, tokens and quality grouped by any mix of dimensions named in {by}.
-- A dimension not in {by} collapses to '' so one fixed, parameterized query serves every grouping.
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
    count() AS spans,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    countIf(NOT priced) AS unpriced_spans,
    sumIf(input_tokens + output_tokens, NOT priced) AS unpriced_tokens,
    countIf(status_code = 'ERROR') AS failed_spans,
    ifNull(sum(quality), 0) AS quality_sum,
    avg(quality) AS quality_mean,
    count(quality) AS quality_n
FROM v_spans(
    tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
    roles = {roles:Array(String)}, teams = {teams:Array(String)}, services = {services:Array(String)},
    environments = {environments:Array(String)})
GROUP BY g_role, g_tier, g_model, g_provider, g_team, g_feature, g_service, g_environment, g_service_tier, g_processing
ORDER BY sum(cost_usd) DESC NULLS LAST, count() DESC, g_role, g_tier, g_model, g_provider, g_team, g_feature, g_service, g_environment, g_service_tier,
    g_processing
SETTINGS prefer_column_name_to_alias = 1
