-- Each 5-minute unit of {tenant} in [{since}, {until}) that holds spans: its latest change and
-- latest refresh (0: never). The refresher sums an hour from its units only when every one is
-- clean, and names these refreshes in the hour's stamp (rollup_merge, rollup_stamp).
SELECT m.unit AS unit, m.marked_at AS marked_at, s.computed_at AS computed_at
FROM
(
    SELECT hour AS unit, max(marked_at) AS marked_at
    FROM rollup_marks
    WHERE tenant = {tenant:String} AND hour >= {since:DateTime('UTC')} AND hour < {until:DateTime('UTC')}
    GROUP BY unit
) AS m
LEFT JOIN
(
    SELECT hour AS unit, max(computed_at) AS computed_at
    FROM rollup_hours
    WHERE tenant = {tenant:String} AND minutes = 5 AND hour >= {since:DateTime('UTC')} AND hour < {until:DateTime('UTC')}
    GROUP BY unit
) AS s ON m.unit = s.unit
ORDER BY unit
SETTINGS join_use_nulls = 0
