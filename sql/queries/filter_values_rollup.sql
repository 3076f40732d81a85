-- filter_values over the hourly rollup (clean hours of [{h0}, {h1}) not in {dirty}).
SELECT
    arraySort(groupUniqArray(role)) AS roles,
    arraySort(groupUniqArray(team)) AS teams,
    arraySort(groupUniqArray(service)) AS services,
    arraySort(groupUniqArray(environment)) AS environments,
    arraySort(groupUniqArray(tier)) AS tiers,
    arraySort(groupUniqArray(model)) AS models,
    sum(spans) AS spans,
    min(first_span) AS first_span,
    max(last_span) AS last_span
FROM v_rollup(
    tenant = {tenant:String}, h0 = {h0:DateTime('UTC')}, h1 = {h1:DateTime('UTC')},
    dirty = {dirty:Array(DateTime('UTC'))}, roles = {roles:Array(String)}, teams = {teams:Array(String)},
    services = {services:Array(String)}, environments = {environments:Array(String)})
SETTINGS prefer_column_name_to_alias = 1
