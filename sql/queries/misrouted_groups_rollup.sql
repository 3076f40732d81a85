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
GROUP BY role, tier, model, provider
SETTINGS prefer_column_name_to_alias = 1
