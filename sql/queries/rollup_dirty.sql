-- Hours of {tenant} in [{h0}, {h1}) changed since their last rollup refresh (or never refreshed):
-- readers take these from v_spans, the refresher recomputes them.
SELECT m.hour AS hour
FROM
(
    SELECT hour, max(marked_at) AS marked_at
    FROM rollup_marks
    WHERE tenant = {tenant:String} AND hour >= {h0:DateTime('UTC')} AND hour < {h1:DateTime('UTC')}
    GROUP BY hour
) AS m
LEFT JOIN
(
    SELECT hour, max(computed_at) AS computed_at
    FROM rollup_hours
    WHERE tenant = {tenant:String} AND hour >= {h0:DateTime('UTC')} AND hour < {h1:DateTime('UTC')}
    GROUP BY hour
) AS c ON m.hour = c.hour
WHERE m.marked_at >= c.computed_at
ORDER BY hour
SETTINGS join_use_nulls = 0
