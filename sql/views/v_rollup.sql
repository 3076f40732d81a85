-- The one place that says how the hourly rollup is read (as v_spans does for spans): the clean
-- hours of [h0, h1) of a tenant (those not in `dirty`), each from its latest refresh, filtered.
-- Every *_rollup named query reads v_rollup(...).
CREATE OR REPLACE VIEW v_rollup AS
SELECT *
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
  AND (empty({environments:Array(String)}) OR has({environments:Array(String)}, environment));
