-- Late quality changes the unit of the span it grades: stamp every 5-minute unit of the graded traces.
INSERT INTO rollup_marks
SELECT DISTINCT tenant, toStartOfFiveMinutes(start_time), toUnixTimestamp64Nano(now64(9))
FROM llm_spans
WHERE tenant IN {tenants:Array(String)} AND trace_id IN {traces:Array(String)}
