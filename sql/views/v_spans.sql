-- The one place that says how a span is read with its quality: v_spans_unscored's rows, each with
-- its effective quality (the latest late quality event of the span, else the span's own score),
-- and that quality as the rollup's sums (quality_sum, quality_n). Every named query that needs
-- quality reads v_spans($scope) and so inherits all of this; the rollup fill reads one slice.
--
-- The late-quality side aggregates only the events of the traces that start in [since, until) (in
-- a slice, only the traces of the slice's spans). The traces are bounded by the hashes of their ids
-- (a set of UInt64, smaller than one of strings); a colliding hash only lets another trace's events
-- into the join, whose ON compares the real ids, so the rows are the same. The primary key cannot
-- serve that filter (trace ids are random).
--
-- A grade counts for its span if it reached the collector no earlier than a day before the span
-- started: a grade is recorded after the call it grades has started, so it arrives after that,
-- give or take the clocks' difference, which this allows a day of. That is a property of the span,
-- whatever the range read, so the rollup and raw reads agree; and it bounds what a read looks at:
-- only the events received from a day before {since} on (the table is keyed by that day first, so
-- the others' granules are skipped), not every event ever stored. Of a span's counted grades the
-- latest (event time, then id) wins: `grades` holds its events, the span's own start picks.
-- The events are deduplicated by aggregation, not FINAL (which merges every event read before the
-- filter): of the copies of one event (a retry), the latest received counts, as the table's
-- ReplacingMergeTree(ingested_at) keeps it.
CREATE OR REPLACE VIEW v_spans AS
WITH arraySort(g -> (g.1, g.2), arrayFilter(g -> g.5 >= s.start_time - INTERVAL 1 DAY, q.grades)) AS counted
SELECT
    s.*,
    if(empty(counted), s.quality_score, toNullable(counted[-1].3)) AS quality,
    if(empty(counted), s.quality_source, counted[-1].4) AS quality_from,
    ifNull(quality, 0) AS quality_sum,
    toUInt64(quality IS NOT NULL) AS quality_n
FROM v_spans_unscored($slice) AS s
LEFT JOIN
(
    SELECT trace_id, span_id, groupArray((e_time, event_id, e_score, e_source, e_received)) AS grades
    FROM
    (
        SELECT trace_id, span_id, event_id, argMax(event_time, ingested_at) AS e_time,
               argMax(score, ingested_at) AS e_score, argMax(source, ingested_at) AS e_source,
               max(ingested_at) AS e_received
        FROM quality_events
        WHERE tenant = {tenant:String}
          AND ingested_at >= {since:DateTime64(9, 'UTC')} - INTERVAL 1 DAY
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
