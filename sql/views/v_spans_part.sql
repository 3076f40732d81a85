-- v_spans restricted to slice {part} of {parts} of the dimension combinations (role, tier, model,
-- provider, team, feature, service, environment), by a hash of them. The rollup refresher fills an
-- hour with many combinations in several such statements (collector/store/rollup.py
-- GROUPS_PER_FILL), because a fill's memory grows with the groups it holds. The late-quality side
-- is sliced the same way (only the traces of the slice's spans), so it shrinks with the slice too.
-- The slices partition the spans: a span's final row has one hash, and the late-quality side of its
-- slice holds its trace. With {parts} <= 1 this is v_spans.
--
-- The join repeats v_spans' on purpose: v_spans defined as one slice of this view answers the same
-- rows, but one more layer of parameterized view makes every raw read slower
-- (bench/results/experiments.md). tests/integration/test_rollup.py holds the two to the same
-- answers: every read from the rollup (filled through this view) equals the read from v_spans.
CREATE OR REPLACE VIEW v_spans_part AS
SELECT
    s.*,
    if(q.span_id = '', s.quality_score, toNullable(q.late_score)) AS quality,
    if(q.span_id = '', s.quality_source, q.late_source) AS quality_from
FROM
(
    SELECT *
    FROM v_spans_unscored(
        tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
        roles = {roles:Array(String)}, teams = {teams:Array(String)}, services = {services:Array(String)},
        environments = {environments:Array(String)})
    WHERE {parts:UInt64} <= 1
       OR cityHash64(role, tier, model, provider, team, feature, service, environment) % {parts:UInt64} = {part:UInt64}
) AS s
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
            AND start_time < {until:DateTime64(9, 'UTC')}
            AND ({parts:UInt64} <= 1
                 OR cityHash64(role, tier, model, provider, team, feature, service, environment) % {parts:UInt64} = {part:UInt64}))
    GROUP BY trace_id, span_id
) AS q ON s.trace_id = q.trace_id AND s.span_id = q.span_id;
