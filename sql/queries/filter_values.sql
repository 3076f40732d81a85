-- The values each shared dashboard filter (and the Cost per task page's feature filter) can take,
-- for the tenant and time range (no quality, so no late-quality join). Over v_rollup for clean
-- hours (rollup.read).
SELECT
    arraySort(groupUniqArray(role)) AS roles,
    arraySort(groupUniqArray(team)) AS teams,
    arraySort(groupUniqArray(service)) AS services,
    arraySort(groupUniqArray(environment)) AS environments,
    arraySort(groupUniqArray(tier)) AS tiers,
    arraySort(groupUniqArray(model)) AS models,
    arraySort(groupUniqArray(feature)) AS features,
    sum(spans) AS spans,
    min(first_span) AS first_span,
    max(last_span) AS last_span
FROM v_spans_unscored($scope)
SETTINGS prefer_column_name_to_alias = 1
