-- What a paired alert rule watches: spend and quality of its scope in [since, until).
SELECT
    count() AS spans,
    ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd,
    avg(quality) AS quality_mean,
    countIf(quality >= {pass_threshold:Float64}) / nullIf(count(quality), 0) AS pass_rate,
    count(quality) AS quality_n
FROM v_spans($scope)
WHERE ({tier:String} = '' OR tier = {tier:String})
  AND ({model:String} = '' OR model = {model:String})
SETTINGS prefer_column_name_to_alias = 1
