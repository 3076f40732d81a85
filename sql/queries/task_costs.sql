-- One row per task (trace) in scope: its calls, unpriced calls, the cost of its priced calls and
-- when its first and last calls started, over the calls in [since, until) that pass the filters
-- (and, if {features} is not empty, whose feature is in it). Over v_task_rollup for clean hours
-- (collector/read/tasks.py merges the parts per trace).
SELECT
    trace_id,
    sum(spans) AS calls,
    sum(unpriced_spans) AS unpriced_calls,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    min(first_span) AS first_span,
    max(last_span) AS last_span
FROM v_spans_unscored($scope)
WHERE empty({features:Array(String)}) OR has({features:Array(String)}, feature)
GROUP BY trace_id
SETTINGS prefer_column_name_to_alias = 1
