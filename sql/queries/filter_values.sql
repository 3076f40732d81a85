-- The values each shared dashboard filter can take, for the tenant and time range (no quality, so
-- no late-quality join).
SELECT
    arraySort(groupUniqArray(role)) AS roles,
    arraySort(groupUniqArray(team)) AS teams,
    arraySort(groupUniqArray(service)) AS services,
    arraySort(groupUniqArray(environment)) AS environments,
    arraySort(groupUniqArray(tier)) AS tiers,
    arraySort(groupUniqArray(model)) AS models,
    count() AS spans,
    min(start_time) AS first_span,
    max(start_time) AS last_span
FROM v_spans_unscored(
    tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
    roles = {roles:Array(String)}, teams = {teams:Array(String)}, services = {services:Array(String)},
    environments = {environments:Array(String)})
SETTINGS prefer_column_name_to_alias = 1
