-- Sum {tenant}'s per-task rollup rows (task_rollup) of the hours in [{since}, {until}) from their
-- 5-minute units' rows of exactly the unit refreshes ({units}[i] by {versions}[i]) the refresher
-- found clean, stamped {version}, as rollup_merge does for spend_rollup. Only traces whose id is in
-- [{lo}, {hi}) ({hi} = '': no upper bound), as task_fill. Reads no span.
INSERT INTO task_rollup
    (tenant, hour, trace_id, role, feature, team, service, environment, spans, unpriced_spans, input_tokens,
     output_tokens, cost_usd, first_span, last_span, minutes, version)
SELECT
    tenant, toStartOfHour(hour) AS hour_start, trace_id, role, feature, team, service, environment,
    sum(spans) AS spans,
    sum(unpriced_spans) AS unpriced_spans,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd,
    min(first_span) AS first_span,
    max(last_span) AS last_span,
    60 AS minutes,
    {version:UInt64} AS version
FROM task_rollup
WHERE tenant = {tenant:String}
  AND minutes = 5
  AND hour >= {since:DateTime('UTC')} AND hour < {until:DateTime('UTC')}
  AND (hour, version) IN (SELECT arrayJoin(arrayZip({units:Array(DateTime('UTC'))}, {versions:Array(UInt64)})))
  AND trace_id >= {lo:String} AND ({hi:String} = '' OR trace_id < {hi:String})
GROUP BY tenant, hour_start, trace_id, role, feature, team, service, environment
SETTINGS prefer_column_name_to_alias = 1, max_threads = 1
