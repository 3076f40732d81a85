-- Router-logged routing decisions (spans with a propensity), summed per (role, model, propensity):
-- the sufficient statistics of an off-policy (IPS / doubly robust) estimate of another policy.
-- A decision's cost includes the retries it caused: escalations (spans whose
-- tierscope.router.escalation_of names its span id) and failovers (tierscope.router.failover_of);
-- a retry may start a trace of its own, so the join is on the 64-bit span id alone. The cost is
-- unknown if any retry is unpriced; `escalated` counts the decisions retried either way;
-- its quality is the last graded retry's when it was retried, else its own.
SELECT
    role,
    model,
    propensity,
    count() AS decisions,
    countIf(escalations > 0) AS escalated,
    count(cost) AS priced,
    ifNull(sum(cost), 0) AS cost_sum,
    ifNull(sum(cost * cost), 0) AS cost_sq_sum,
    count(score) AS quality_n,
    ifNull(sum(score), 0) AS quality_sum,
    ifNull(sum(score * score), 0) AS quality_sq_sum,
    groupUniqArray(policy_version) AS policy_versions
FROM
(
    SELECT
        d.role AS role,
        d.model AS model,
        d.router_propensity AS propensity,
        d.router_policy_version AS policy_version,
        e.retries AS escalations,
        if(e.retries > 0,
           if(e.unpriced > 0, NULL, toFloat64(d.cost_usd) + e.retry_cost),
           toFloat64(d.cost_usd)) AS cost,
        if(e.retries > 0, e.retry_quality, d.quality) AS score
    FROM
    (
        SELECT trace_id, span_id, role, model, router_propensity, router_policy_version, cost_usd, quality
        FROM v_spans($scope)
        WHERE router_propensity IS NOT NULL AND escalated_from = '' AND failover_from = ''
    ) AS d
    LEFT JOIN
    (
        SELECT
            if(escalated_from != '', attributes['tierscope.router.escalation_of'],
               attributes['tierscope.router.failover_of']) AS decision_span_id,
            count() AS retries,
            countIf(cost_usd IS NULL) AS unpriced,
            sum(toFloat64(ifNull(cost_usd, 0))) AS retry_cost,
            argMax(quality, start_time) AS retry_quality
        FROM v_spans($scope)
        WHERE (escalated_from != '' AND attributes['tierscope.router.escalation_of'] != '')
           OR (failover_from != '' AND attributes['tierscope.router.failover_of'] != '')
        GROUP BY decision_span_id
    ) AS e ON d.span_id = e.decision_span_id
)
GROUP BY role, model, propensity
ORDER BY role, model, propensity
