-- The statements of sql/migrations/0007_v_rollup.sql as the schema stood before views moved to sql/views
-- (commit d9b8a4c), comments dropped: what a store built by that code has run.
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
