-- The statements of sql/migrations/0009_v_spans_hashed_quality_bound.sql as the schema stood before views moved to sql/views
-- (commit d9b8a4c), comments dropped: what a store built by that code has run.
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
