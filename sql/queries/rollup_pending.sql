-- Every (tenant, hour) changed since its last rollup refresh, oldest first: the refresher's work.
-- marked_at is the hour's latest change and computed_at its latest refresh (0: never), both on the
-- store's clock, so the refresher can leave an hour that is still being changed for later.
SELECT m.tenant AS tenant, m.hour AS hour, m.marked_at AS marked_at, c.computed_at AS computed_at
FROM
(
    SELECT tenant, hour, max(marked_at) AS marked_at FROM rollup_marks GROUP BY tenant, hour
) AS m
LEFT JOIN
(
    SELECT tenant, hour, max(computed_at) AS computed_at FROM rollup_hours GROUP BY tenant, hour
) AS c ON m.tenant = c.tenant AND m.hour = c.hour
WHERE m.marked_at >= c.computed_at
ORDER BY tenant, hour
SETTINGS join_use_nulls = 0
