-- How the per-task rollup is read (as v_rollup reads spend_rollup): a tenant's clean hours of
-- [h0, h1) (those not in `dirty`) and clean 5-minute `units`, within [since, until), each from its
-- latest refresh, filtered by the shared filters. It offers the columns the task queries read from
-- v_spans_unscored under the same names (`start_time` is the row's hour or unit), so a task query
-- runs over it by swapping its source (read_sql).
CREATE OR REPLACE VIEW v_task_rollup AS
SELECT *, hour AS start_time
FROM task_rollup
WHERE $clean_hours;
