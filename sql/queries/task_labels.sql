-- The roles and features of the calls of a few tasks {traces} in scope (the dearest tasks' table).
-- llm_spans without FINAL: a duplicate of a call adds no new role or feature, and the trace_id bloom
-- filter finds the granules of these traces.
SELECT
    trace_id,
    arraySort(groupUniqArray(role)) AS roles,
    arraySort(groupUniqArray(feature)) AS features
FROM llm_spans
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
