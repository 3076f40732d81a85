-- What a read of {tenant}'s [{h0}, {h1}) cannot take from the hour rows (minutes = 60: the hours that
-- are not clean), and the 5-minute units of those hours that hold spans (minutes = 5), `clean` if
-- refreshed since their last change (read from the unit rows) or not (read from v_spans). An
-- hour is clean when its latest stamp was summed from exactly its units' latest refreshes (the same
-- basis as rollup_stamp's) and none of them has changed since. An hour only partly inside the range
-- counts as not clean (its basis is over the units inside), so the units of the range's ragged edges
-- come with it. A unit never marked holds no span and is left out (either way of reading it is free).
-- A unit's `computed_at` is its latest refresh (0: never): the refresher sums a dirty hour from its
-- units when all are clean, and names these refreshes in the hour's stamp (rollup_merge, rollup_stamp).
WITH units AS
(
    SELECT m.unit AS unit, m.marked_at AS marked_at, s.computed_at AS computed_at
    FROM
    (
        SELECT hour AS unit, max(marked_at) AS marked_at
        FROM rollup_marks
        WHERE tenant = {tenant:String} AND hour >= {h0:DateTime('UTC')} AND hour < {h1:DateTime('UTC')}
        GROUP BY unit
    ) AS m
    LEFT JOIN
    (
        SELECT hour AS unit, max(computed_at) AS computed_at
        FROM rollup_stamps
        WHERE tenant = {tenant:String} AND minutes = 5 AND hour >= {h0:DateTime('UTC')} AND hour < {h1:DateTime('UTC')}
        GROUP BY unit
    ) AS s ON m.unit = s.unit
),
dirty AS
(
    SELECT u.hour AS hour
    FROM
    (
        SELECT toStartOfHour(unit) AS hour, max(marked_at >= computed_at) AS changed,
               sum(cityHash64(unit, computed_at)) AS basis
        FROM units
        GROUP BY hour
    ) AS u
    LEFT JOIN
    (
        SELECT hour, argMax(basis, computed_at) AS basis
        FROM rollup_stamps
        WHERE tenant = {tenant:String} AND minutes = 60 AND hour >= toStartOfHour({h0:DateTime('UTC')})
          AND hour < {h1:DateTime('UTC')}
        GROUP BY hour
    ) AS c ON u.hour = c.hour
    WHERE u.changed OR u.basis != c.basis
)
SELECT hour AS start, toUInt8(60) AS minutes, false AS clean, toUInt64(0) AS computed_at
FROM dirty
UNION ALL
SELECT unit AS start, toUInt8(5) AS minutes, marked_at < computed_at AS clean, computed_at
FROM units
WHERE toStartOfHour(unit) IN (SELECT hour FROM dirty)
ORDER BY minutes, start
SETTINGS join_use_nulls = 0
