-- Late quality changes the hour of the span it grades: stamp every hour of the graded traces.
INSERT INTO rollup_marks
SELECT DISTINCT tenant, toStartOfHour(start_time), toUnixTimestamp64Nano(now64(9))
FROM llm_spans
WHERE tenant IN {tenants:Array(String)} AND trace_id IN {traces:Array(String)}
