-- Candidate LLM spans (and tierscope quality events) of one day of an OpenTelemetry Collector
-- clickhouseexporter table, in keyset pages of {limit} after ({after_ns}, {after_trace}, {after_span}).
-- Only narrows by attribute key: normalize() decides what is an LLM span, as for OTLP ingest.
SELECT
    TraceId AS trace_id,
    SpanId AS span_id,
    ParentSpanId AS parent_span_id,
    SpanName AS name,
    toUnixTimestamp64Nano(Timestamp) AS start_ns,
    toUInt64(Duration) AS duration_ns,
    StatusCode AS status_code,
    StatusMessage AS status_message,
    ScopeName AS scope_name,
    ScopeVersion AS scope_version,
    ResourceAttributes AS resource_attributes,
    SpanAttributes AS span_attributes
FROM {database:Identifier}.{table:Identifier}
WHERE toDate(Timestamp) = {day:Date}
  AND Timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})
  AND (hasAny(mapKeys(SpanAttributes), {keys:Array(String)}) OR SpanName = {quality_span:String})
  AND (toUnixTimestamp64Nano(Timestamp), TraceId, SpanId) > ({after_ns:Int64}, {after_trace:String}, {after_span:String})
ORDER BY toUnixTimestamp64Nano(Timestamp), TraceId, SpanId
LIMIT {limit:UInt32}
