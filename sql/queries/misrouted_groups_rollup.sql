-- misrouted_groups over the hourly rollup (clean hours of [{h0}, {h1}) not in {dirty}).
SELECT
    role,
    tier,
    model,
    provider,
    sum(spans) AS spans,
    sum(cost_usd) AS cost_usd,
    sum(unpriced_spans) AS unpriced_spans,
    sum(quality_n) AS quality_n,
    sum(quality_sum) AS quality_sum
FROM v_rollup(
    tenant = {tenant:String}, h0 = {h0:DateTime('UTC')}, h1 = {h1:DateTime('UTC')},
    dirty = {dirty:Array(DateTime('UTC'))}, roles = {roles:Array(String)}, teams = {teams:Array(String)},
    services = {services:Array(String)}, environments = {environments:Array(String)})
GROUP BY role, tier, model, provider
SETTINGS prefer_column_name_to_alias = 1
