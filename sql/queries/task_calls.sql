-- The calls in scope of a few tasks {traces} (the dearest tasks' table): how many, how many
-- unpriced, when the first and last started, their roles and features. The same calls v_tasks sums
-- (deduplicated, the same filters); the trace_id bloom filter finds their granules.
SELECT
    trace_id,
    count() AS calls,
    countIf(NOT priced) AS unpriced_calls,
    min(start_time) AS first_span,
    max(start_time) AS last_span,
    arraySort(groupUniqArray(role)) AS roles,
    arraySort(groupUniqArray(feature)) AS features
FROM llm_spans FINAL
WHERE tenant = {tenant:String}
  AND trace_id IN {traces:Array(String)}
  AND start_time >= {since:DateTime64(9, 'UTC')}
  AND start_time < {until:DateTime64(9, 'UTC')}
  AND (empty({roles:Array(String)}) OR has({roles:Array(String)}, role))
  AND (empty({teams:Array(String)}) OR has({teams:Array(String)}, team))
  AND (empty({services:Array(String)}) OR has({services:Array(String)}, service))
  AND (empty({environments:Array(String)}) OR has({environments:Array(String)}, environment))
  AND (empty({features:Array(String)}) OR has({features:Array(String)}, feature))
GROUP BY trace_id
