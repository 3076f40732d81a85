-- Recompute the per-task rollup rows (task_rollup) of {tenant}'s 5-minute units {units} (all in
-- [{since}, {until})) from the deduplicated spans (cost needs no quality, so no late-quality join),
-- stamped {version}; rollup_stamps is stamped after, by the refresher, once spend_rollup is filled
-- too. Only the traces whose id is in [{lo}, {hi}) ({hi} = '': no upper bound): the refresher fills
-- units of many tasks in slices of the trace-id range (collector/store/rollup.py TASKS_PER_FILL), and
-- since trace_id follows the unit in llm_spans' key, a slice reads only its own granules.
INSERT INTO task_rollup
    (tenant, hour, trace_id, role, feature, team, service, environment, spans, unpriced_spans, input_tokens,
     output_tokens, cost_usd, first_span, last_span, minutes, version)
SELECT
    tenant, unit, trace_id, role, feature, team, service, environment,
    sum(spans) AS spans,
    sum(unpriced_spans) AS unpriced_spans,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    min(first_span) AS first_span,
    max(last_span) AS last_span,
    5 AS minutes,
    {version:UInt64} AS version
FROM v_spans_unscored(
    tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')},
    roles = [], teams = [], services = [], environments = [], parts = 1, part = 0)
WHERE has({units:Array(DateTime('UTC'))}, unit) AND trace_id >= {lo:String} AND ({hi:String} = '' OR trace_id < {hi:String})
GROUP BY tenant, unit, trace_id, role, feature, team, service, environment
SETTINGS prefer_column_name_to_alias = 1, max_threads = 1
