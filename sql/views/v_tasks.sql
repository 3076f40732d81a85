-- One row per task (trace) in scope: its calls, unpriced calls, the exact cost of its priced calls,
-- its first and last call's start. Summed over the calls that pass the shared filters and (if
-- {features} is not empty) whose feature is in it, from parts that never overlap: the clean hours
-- [{h0}, {h1}) but {dirty} and the 5-minute {units} from the per-task rollup, and four raw ranges
-- [{rawN_since}, {rawN_until}) from the deduplicated spans (an unused one is empty). The plan that
-- picks them is the one every aggregate uses (collector/store/rollup.py, `at_most` for the four).
-- A trace that crosses parts (an hour's end, an open hour) is summed across them here.
CREATE OR REPLACE VIEW v_tasks AS
SELECT
    trace_id,
    sum(spans) AS calls,
    sum(unpriced_spans) AS unpriced_calls,
    sum(cost_usd) AS cost_usd,
    min(first_span) AS first_span,
    max(last_span) AS last_span
FROM
(
    SELECT trace_id, feature, spans, unpriced_spans, cost_usd, first_span, last_span
    FROM v_task_rollup(tenant = {tenant:String}, since = {rollup_since:DateTime64(9, 'UTC')},
                       until = {rollup_until:DateTime64(9, 'UTC')}, h0 = {h0:DateTime64(9, 'UTC')},
                       h1 = {h1:DateTime64(9, 'UTC')}, dirty = {dirty:Array(DateTime('UTC'))},
                       units = {units:Array(DateTime('UTC'))}, roles = {roles:Array(String)},
                       teams = {teams:Array(String)}, services = {services:Array(String)},
                       environments = {environments:Array(String)})
    UNION ALL
    SELECT trace_id, feature, spans, unpriced_spans, ifNull(cost_usd, toDecimal128(0, 18)), first_span, last_span
    FROM v_spans_unscored(tenant = {tenant:String}, since = {raw0_since:DateTime64(9, 'UTC')},
                          until = {raw0_until:DateTime64(9, 'UTC')}, roles = {roles:Array(String)},
                          teams = {teams:Array(String)}, services = {services:Array(String)},
                          environments = {environments:Array(String)}, parts = 1, part = 0)
    UNION ALL
    SELECT trace_id, feature, spans, unpriced_spans, ifNull(cost_usd, toDecimal128(0, 18)), first_span, last_span
    FROM v_spans_unscored(tenant = {tenant:String}, since = {raw1_since:DateTime64(9, 'UTC')},
                          until = {raw1_until:DateTime64(9, 'UTC')}, roles = {roles:Array(String)},
                          teams = {teams:Array(String)}, services = {services:Array(String)},
                          environments = {environments:Array(String)}, parts = 1, part = 0)
    UNION ALL
    SELECT trace_id, feature, spans, unpriced_spans, ifNull(cost_usd, toDecimal128(0, 18)), first_span, last_span
    FROM v_spans_unscored(tenant = {tenant:String}, since = {raw2_since:DateTime64(9, 'UTC')},
                          until = {raw2_until:DateTime64(9, 'UTC')}, roles = {roles:Array(String)},
                          teams = {teams:Array(String)}, services = {services:Array(String)},
                          environments = {environments:Array(String)}, parts = 1, part = 0)
    UNION ALL
    SELECT trace_id, feature, spans, unpriced_spans, ifNull(cost_usd, toDecimal128(0, 18)), first_span, last_span
    FROM v_spans_unscored(tenant = {tenant:String}, since = {raw3_since:DateTime64(9, 'UTC')},
                          until = {raw3_until:DateTime64(9, 'UTC')}, roles = {roles:Array(String)},
                          teams = {teams:Array(String)}, services = {services:Array(String)},
                          environments = {environments:Array(String)}, parts = 1, part = 0)
)
WHERE empty({features:Array(String)}) OR has({features:Array(String)}, feature)
GROUP BY trace_id;
