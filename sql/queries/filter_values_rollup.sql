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
FROM spend_hourly
WHERE tenant = {tenant:String}
  AND hour >= {h0:DateTime('UTC')} AND hour < {h1:DateTime('UTC')}
  AND NOT has({dirty:Array(DateTime('UTC'))}, hour)
  AND (hour, version) GLOBAL IN (
      SELECT hour, max(computed_at) FROM rollup_hours
      WHERE tenant = {tenant:String} AND hour >= {h0:DateTime('UTC')} AND hour < {h1:DateTime('UTC')}
      GROUP BY hour)
  AND (empty({roles:Array(String)}) OR has({roles:Array(String)}, role))
  AND (empty({teams:Array(String)}) OR has({teams:Array(String)}, team))
  AND (empty({services:Array(String)}) OR has({services:Array(String)}, service))
  AND (empty({environments:Array(String)}) OR has({environments:Array(String)}, environment))
SETTINGS prefer_column_name_to_alias = 1
