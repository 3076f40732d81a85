-- Recompute the rollup rows of {tenant}'s hours in [{since}, {until}), stamped {version}; rollup_hours
-- is stamped after, by the refresher. The same rows v_spans gives (FINAL deduplication, the latest
-- late quality event per span, as in migration 0006), read with less memory, since this runs in the
-- background of a collector under load (bench/results/experiments.md, "Soak RSS"):
--   * the late-quality side is bounded by the hashes of the range's trace ids, not the ids: a set of
--     UInt64 instead of strings (a 1,000,000-span hour: +190-210 MiB peak instead of +280-330). A
--     hash that collides only lets another trace's events into the join, whose ON is exact;
--   * one thread (a 125,000-span hour: +65-75 MiB instead of +100-120).
-- tests/test_rollup.py checks every aggregate read from the rollup equals the same read from v_spans.
INSERT INTO spend_hourly
SELECT
    tenant,
    toStartOfHour(start_time) AS hour,
    role, tier, model, provider, team, feature, service, environment,
    count() AS spans,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    countIf(NOT priced) AS unpriced_spans,
    sumIf(input_tokens + output_tokens, NOT priced) AS unpriced_tokens,
    sum(ifNull(quality, 0)) AS quality_sum,
    count(quality) AS quality_n,
    min(start_time) AS first_span,
    max(start_time) AS last_span,
    {version:UInt64} AS version
FROM
(
    SELECT
        s.tenant AS tenant, s.start_time AS start_time, s.role AS role, s.tier AS tier, s.model AS model,
        s.provider AS provider, s.team AS team, s.feature AS feature, s.service AS service,
        s.environment AS environment, s.input_tokens AS input_tokens, s.output_tokens AS output_tokens,
        s.cache_read_tokens AS cache_read_tokens, s.cache_write_tokens AS cache_write_tokens,
        s.reasoning_tokens AS reasoning_tokens, s.cost_usd AS cost_usd, s.priced AS priced,
        if(q.span_id = '', s.quality_score, toNullable(q.late_score)) AS quality
    FROM
    (
        SELECT tenant, trace_id, span_id, start_time, role, tier, model, provider, team, feature, service,
               environment, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
               reasoning_tokens, cost_usd, priced, quality_score
        FROM llm_spans FINAL
        WHERE tenant = {tenant:String}
          AND start_time >= {since:DateTime64(9, 'UTC')}
          AND start_time < {until:DateTime64(9, 'UTC')}
    ) AS s
    LEFT JOIN
    (
        SELECT trace_id, span_id, argMax(score, (event_time, event_id)) AS late_score
        FROM quality_events FINAL
        WHERE tenant = {tenant:String}
          AND cityHash64(trace_id) IN (
              SELECT cityHash64(trace_id) FROM llm_spans
              WHERE tenant = {tenant:String}
                AND start_time >= {since:DateTime64(9, 'UTC')}
                AND start_time < {until:DateTime64(9, 'UTC')})
        GROUP BY trace_id, span_id
    ) AS q ON s.trace_id = q.trace_id AND s.span_id = q.span_id
)
GROUP BY tenant, hour, role, tier, model, provider, team, feature, service, environment
SETTINGS prefer_column_name_to_alias = 1, max_threads = 1
