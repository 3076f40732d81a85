-- The time range one trace's spans start in (the trace_id bloom filter finds its granules), so the
-- trace view reads v_spans over just that range. A retried span counts once (no FINAL needed for that).
SELECT uniqExact(span_id) AS spans, min(start_time) AS first_start, max(start_time) AS last_start
FROM llm_spans
WHERE tenant = {tenant:String} AND trace_id = {trace_id:String}
