-- The one place that says how a span is read with its quality: v_spans_unscored's rows, each with
-- its effective quality (the latest late quality event of the span, else the span's own score),
-- and that quality as the rollup's sums (quality_sum, quality_n). Every named query that needs
-- quality reads v_spans($scope) and so inherits all of this; the rollup fill reads one slice.
--
-- The late-quality side aggregates only the events of the traces that start in [since, until) (in
-- a slice, only the traces of the slice's spans). The traces are bounded by the hashes of their ids
-- (a set of UInt64, smaller than one of strings); a colliding hash only lets another trace's events
-- into the join, whose ON compares the real ids, so the rows are the same. The primary key does not
-- serve that filter: every event of the tenant is read, whatever the range (bench/RESULTS.md).
-- The events are deduplicated by aggregation, not FINAL (which merges every event of the tenant
-- before the filter): of the copies of one event (a retry), the latest ingested counts, as the
-- table's ReplacingMergeTree(ingested_at) keeps it.
CREATE OR REPLACE VIEW v_spans AS
SELECT
    s.*,
    if(q.span_id = '', s.quality_score, toNullable(q.late_score)) AS quality,
    if(q.span_id = '', s.quality_source, q.late_source) AS quality_from,
    ifNull(quality, 0) AS quality_sum,
    toUInt64(quality IS NOT NULL) AS quality_n
FROM v_spans_unscored($slice) AS s
LEFT JOIN
(
    SELECT
        trace_id,
        span_id,
        argMax(e_score, (e_time, event_id)) AS late_score,
        argMax(e_source, (e_time, event_id)) AS late_source
    FROM
    (
        SELECT trace_id, span_id, event_id, argMax(event_time, ingested_at) AS e_time,
               argMax(score, ingested_at) AS e_score, argMax(source, ingested_at) AS e_source
        FROM quality_events
        WHERE tenant = {tenant:String}
          AND cityHash64(trace_id) IN (
              SELECT cityHash64(trace_id) FROM llm_spans
              WHERE tenant = {tenant:String}
                AND start_time >= {since:DateTime64(9, 'UTC')}
                AND start_time < {until:DateTime64(9, 'UTC')}
                AND ({parts:UInt64} <= 1
                     OR cityHash64(role, tier, model, provider, team, feature, service, environment) % {parts:UInt64}
                        = {part:UInt64}))
        GROUP BY trace_id, span_id, event_id
    )
    GROUP BY trace_id, span_id
) AS q ON s.trace_id = q.trace_id AND s.span_id = q.span_id;
