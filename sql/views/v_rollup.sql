-- The one place that says how the hourly rollup is read (as v_spans does for spans): the clean
-- hours of [since, until) of a tenant (those not in `dirty`), each from its latest refresh,
-- filtered. It takes v_spans' scope and offers the columns aggregates read from v_spans under the
-- same names (`start_time` is the hour), so rollup.read runs a named aggregate over it by swapping
-- `v_spans($scope)` for this view.
CREATE OR REPLACE VIEW v_rollup AS
SELECT *, hour AS start_time
FROM spend_hourly
WHERE tenant = {tenant:String}
  AND hour >= {since:DateTime64(9, 'UTC')} AND hour < {until:DateTime64(9, 'UTC')}
  AND NOT has({dirty:Array(DateTime('UTC'))}, hour)
  AND (hour, version) GLOBAL IN (
      SELECT hour, max(computed_at) FROM rollup_hours
      WHERE tenant = {tenant:String} AND hour >= {since:DateTime64(9, 'UTC')} AND hour < {until:DateTime64(9, 'UTC')}
      GROUP BY hour)
  AND (empty({roles:Array(String)}) OR has({roles:Array(String)}, role))
  AND (empty({teams:Array(String)}) OR has({teams:Array(String)}, team))
  AND (empty({services:Array(String)}) OR has({services:Array(String)}, service))
  AND (empty({environments:Array(String)}) OR has({environments:Array(String)}, environment));
