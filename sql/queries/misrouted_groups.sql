-- Calls, spend and quality per (role, tier, model, provider): the quality evidence for each role on
-- each tier, and the catalog of models observed on each tier (candidate routing targets). Over
-- v_rollup for clean hours (rollup.read).
SELECT
    role, tier, model, provider,
    sum(spans) AS spans,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    sum(unpriced_spans) AS unpriced_spans,
    sum(quality_n) AS quality_n,
    sum(quality_sum) AS quality_sum
FROM v_spans($scope)
GROUP BY role, tier, model, provider
SETTINGS prefer_column_name_to_alias = 1
