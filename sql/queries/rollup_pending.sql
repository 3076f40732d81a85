-- The refresher's work, for every tenant: the 5-minute units changed since their last refresh
-- (minutes = 5) and the hours that are not clean (minutes = 60; see rollup_dirty), oldest first.
-- marked_at is the latest change in the unit (or hour) and computed_at its latest refresh (0:
-- never), both on the store's clock, so the refresher can leave a unit that is still being changed
-- for later.
WITH units AS
(
    SELECT m.tenant AS tenant, m.unit AS unit, m.marked_at AS marked_at, s.computed_at AS computed_at
    FROM
    (
        SELECT tenant, hour AS unit, max(marked_at) AS marked_at FROM rollup_marks GROUP BY tenant, unit
    ) AS m
    LEFT JOIN
    (
        SELECT tenant, hour AS unit, max(computed_at) AS computed_at
        FROM rollup_stamps WHERE minutes = 5 GROUP BY tenant, unit
    ) AS s ON m.tenant = s.tenant AND m.unit = s.unit
)
SELECT tenant, unit AS start, toUInt8(5) AS minutes, marked_at, computed_at
FROM units
WHERE marked_at >= computed_at
UNION ALL
SELECT u.tenant AS tenant, u.hour AS start, toUInt8(60) AS minutes, u.last_marked AS marked_at, c.last_computed AS computed_at
FROM
(
    SELECT tenant, toStartOfHour(unit) AS hour, max(marked_at >= computed_at) AS dirty,
           sum(cityHash64(unit, computed_at)) AS basis, max(marked_at) AS last_marked
    FROM units
    GROUP BY tenant, hour
) AS u
LEFT JOIN
(
    SELECT tenant, hour, argMax(basis, computed_at) AS basis, max(computed_at) AS last_computed
    FROM rollup_stamps WHERE minutes = 60 GROUP BY tenant, hour
) AS c ON u.tenant = c.tenant AND u.hour = c.hour
WHERE u.dirty OR u.basis != c.basis
ORDER BY tenant, minutes, start
SETTINGS join_use_nulls = 0
