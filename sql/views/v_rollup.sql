-- The one place that says how the hourly rollup is read (as v_spans does for spans): the clean
-- hours of [since, until) of a tenant (those not in `dirty`), each from its latest refresh,
-- filtered. It takes v_spans' scope and offers the columns aggregates read from v_spans under the
-- same names (`start_time` is the hour), so rollup.read runs a named aggregate over it by swapping
-- `v_spans($scope)` for this view.
CREATE OR REPLACE VIEW v_rollup AS
SELECT *, hour AS start_time
FROM spend_hourly
WHERE $clean_hours;
