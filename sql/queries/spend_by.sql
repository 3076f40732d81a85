-- Spend, calls, tokens and quality grouped by any mix of dimensions named in {by}.
-- A dimension not in {by} collapses to '' so one fixed, parameterized query serves every grouping.
-- Written over the rollup's additive columns, so rollup.read runs it over v_rollup for clean hours.
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
    $sums
FROM v_spans($scope)
GROUP BY g_role, g_tier, g_model, g_provider, g_team, g_feature, g_service, g_environment, g_service_tier, g_processing
SETTINGS prefer_column_name_to_alias = 1
