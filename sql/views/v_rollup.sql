-- The one place that says how the rollup is read (as v_spans does for spans): a tenant's clean
-- hours of [h0, h1) (those not in `dirty`) and clean 5-minute `units`, within [since, until), each
-- from its latest refresh, filtered. It takes v_spans' scope and offers the columns aggregates read
-- from v_spans under the same names (`start_time` is the row's hour or unit), so rollup.read runs a
-- named aggregate over it by swapping `v_spans($scope)` for this view.
CREATE OR REPLACE VIEW v_rollup AS
SELECT *, hour AS start_time
FROM spend_rollup
WHERE $clean_hours;
