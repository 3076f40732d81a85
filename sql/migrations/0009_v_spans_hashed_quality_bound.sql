-- v_spans bounds its late-quality side by the hashes of the range's trace ids instead of the ids: a
-- set of UInt64 rather than of strings. Same rows (a colliding hash only lets another trace's events
-- into the join, whose ON compares the real ids); less memory (one 1,000,000-span hour filled into the
-- rollup: +190-210 MiB peak instead of +280-330, bench/results/experiments.md) and no slower (a raw
-- hour of 100k spans: 139 vs 148 ms, a raw day 172 vs 209 ms, best of 9 and 5, interleaved). The
-- rollup fill used to carry its own copy of this join to get that; now it reads v_spans again.
CREATE OR REPLACE VIEW v_spans AS
SELECT
    s.*,
    if(q.span_id = '', s.quality_score, toNullable(q.late_score)) AS quality,
    if(q.span_id = '', s.quality_source, q.late_source) AS quality_from
FROM v_spans_unscored(
    tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
    roles = {roles:Array(String)}, teams = {teams:Array(String)}, services = {services:Array(String)},
    environments = {environments:Array(String)}) AS s
LEFT JOIN
(
    SELECT
        trace_id,
        span_id,
        argMax(score, (event_time, event_id)) AS late_score,
        argMax(source, (event_time, event_id)) AS late_source
    FROM quality_events FINAL
    WHERE tenant = {tenant:String}
      AND cityHash64(trace_id) IN (
          SELECT cityHash64(trace_id) FROM llm_spans
          WHERE tenant = {tenant:String}
            AND start_time >= {since:DateTime64(9, 'UTC')}
            AND start_time < {until:DateTime64(9, 'UTC')})
    GROUP BY trace_id, span_id
) AS q ON s.trace_id = q.trace_id AND s.span_id = q.span_id;
