-- Span duration per (role, model): how many calls carry one and its 50th and 95th percentiles, in
-- whole milliseconds elapsed, for the recommender's latency SLOs (collector/recommender/latency.py).
-- A span whose end is not after its start has no duration (an import or a hand-made span without
-- timing), so it is neither counted nor measured.
--
-- Percentiles are not additive, so this reads spans, never the hourly rollup. quantilesExactWeighted
-- with weight 1 is exact and keeps one counter per distinct millisecond value (not one per call, as
-- quantilesExact does), so its memory is bounded by the spread of durations however many calls the
-- window holds; and it is the nearest-rank percentile: p95 is the smallest duration that at least
-- 95 in 100 timed calls did not exceed, so p95 <= SLO says exactly that the SLO held for them.
SELECT
    role,
    model,
    countIf(end_time > start_time) AS timed_calls,
    quantilesExactWeightedIf(0.5, 0.95)(age('millisecond', start_time, end_time), 1, end_time > start_time)
        AS duration_ms
FROM v_spans_unscored($scope)
WHERE role != '' AND model != ''
GROUP BY role, model
