-- How the per-task rollup is read (as v_rollup reads spend_hourly): the clean hours of [since, until)
-- of a tenant (those not in `dirty`), each from its latest refresh, filtered by the shared filters.
-- It offers the columns the task queries read from v_spans_unscored under the same names
-- (`start_time` is the hour), so a task query runs over it by swapping its source (read_sql).
CREATE OR REPLACE VIEW v_task_rollup AS
SELECT *, hour AS start_time
FROM task_hourly
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
