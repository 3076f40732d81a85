-- The calls in scope of a few tasks {traces} (the dearest tasks' table): how many, how many
-- unpriced, when the first and last started, their roles and features. The same calls v_tasks sums
-- (v_spans_unscored's scope, and {features} when not empty); the trace_id bloom filter still finds
-- their granules through the view (EXPLAIN indexes = 1: 2 of 25 granules on a 200,000-span store).
SELECT
    trace_id,
    count() AS calls,
    sum(unpriced_spans) AS unpriced_calls,
    min(start_time) AS first_span,
    max(start_time) AS last_span,
    arraySort(groupUniqArray(role)) AS roles,
    arraySort(groupUniqArray(feature)) AS features
FROM v_spans_unscored($scope)
WHERE trace_id IN {traces:Array(String)}
  AND (empty({features:Array(String)}) OR has({features:Array(String)}, feature))
GROUP BY trace_id
