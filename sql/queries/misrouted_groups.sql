-- Calls, spend and quality per (role, tier, model, provider): the quality evidence for each role on
-- each tier, and the catalog of models observed on each tier (candidate routing targets).
SELECT
    role,
    tier,
    model,
    provider,
    count() AS spans,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    countIf(NOT priced) AS unpriced_spans,
    count(quality) AS quality_n,
    ifNull(sum(quality), 0) AS quality_sum,
    avg(quality) AS quality_mean
FROM v_spans(
    tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
    roles = {roles:Array(String)}, teams = {teams:Array(String)}, services = {services:Array(String)},
    environments = {environments:Array(String)})
GROUP BY role, tier, model, provider
ORDER BY role, tier, model, provider
SETTINGS prefer_column_name_to_alias = 1
