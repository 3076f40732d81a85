-- How the per-task rollup is read (as v_rollup reads spend_hourly): the clean hours of [since, until)
-- of a tenant (those not in `dirty`), each from its latest refresh, filtered by the shared filters.
-- It offers the columns the task queries read from v_spans_unscored under the same names
-- (`start_time` is the hour), so a task query runs over it by swapping its source (read_sql).
CREATE OR REPLACE VIEW v_task_rollup AS
SELECT *, hour AS start_time
FROM task_hourly
WHERE $clean_hours;
