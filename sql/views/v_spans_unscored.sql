-- How a span is read: deduplicated (FINAL: a retried batch writes the same key again and
-- ReplacingMergeTree keeps one row), scoped to a tenant and [since, until), filtered by the shared
-- dashboard filters. Reads that use no quality (the filter values, the misrouted calls) read this
-- view and skip v_spans' late-quality join; v_spans reads its spans from here, so the scope of a
-- read is written down once. Named queries pass the scope as `$scope` (collector/store/clickhouse.py).
--
-- Slice {part} of {parts} of the dimension combinations, by a hash of them: the rollup refresher
-- fills an hour with many combinations in several statements (collector/store/rollup.py
-- GROUPS_PER_FILL), because a fill's memory grows with the groups it holds. A span's final row has
-- one hash, so the slices partition the spans; with {parts} <= 1 (every `$scope` read) the
-- condition is constant and the engine drops it.
--
-- Besides the span's columns, each row carries the additive columns of the hourly rollup under the
-- rollup's names (spans, unpriced_spans, ..., hour, unit, first_span, last_span, the levers' escalated_spans,
-- failover_spans, ...; v_spans adds the quality sums): an aggregate written over these reads v_rollup
-- by the same text (rollup.read).
CREATE OR REPLACE VIEW v_spans_unscored AS
SELECT
    *,
    toStartOfHour(start_time) AS hour,
    toStartOfFiveMinutes(start_time) AS unit,
    toUInt64(1) AS spans,
    toUInt64(NOT priced) AS unpriced_spans,
    if(priced, 0, input_tokens + output_tokens) AS unpriced_tokens,
    CAST(status_code = 'ERROR', 'UInt64') AS failed_spans,
    start_time AS first_span,
    start_time AS last_span,
    CAST(escalated_from != '', 'UInt64') AS escalated_spans,
    CAST(failover_from != '', 'UInt64') AS failover_spans,
    CAST(deadline = 'async', 'UInt64') AS async_spans,
    CAST(priced AND (cache_saving_usd IS NULL OR batch_saving_usd IS NULL), 'UInt64') AS saving_unknown_spans,
    if(escalated_from != '', cost_usd, NULL) AS escalated_cost_usd,
    if(failover_from != '', cost_usd, NULL) AS failover_cost_usd
FROM llm_spans FINAL
WHERE tenant = {tenant:String}
  AND start_time >= {since:DateTime64(9, 'UTC')}
  AND start_time < {until:DateTime64(9, 'UTC')}
  AND (empty({roles:Array(String)}) OR has({roles:Array(String)}, role))
  AND (empty({teams:Array(String)}) OR has({teams:Array(String)}, team))
  AND (empty({services:Array(String)}) OR has({services:Array(String)}, service))
  AND (empty({environments:Array(String)}) OR has({environments:Array(String)}, environment))
  AND ({parts:UInt64} <= 1
       OR cityHash64(role, tier, model, provider, team, feature, service, environment) % {parts:UInt64} = {part:UInt64});
