-- The 5-minute units of {tenant}'s [{h0}, {h1}) that hold spans and lie in an hour that is not clean,
-- each `clean` if refreshed since its last change (a read takes it from the unit rows) or not (from
-- v_spans), with its latest refresh (`computed_at`, 0: never). The hours of these units are the
-- ones a read cannot take from the hour rows. An hour is clean when its latest stamp was summed from
-- exactly its units' latest refreshes (the same basis as rollup_stamp's) and none of them has
-- changed since. An hour only partly inside the range counts as not clean (its basis is over the
-- units inside), so the units of the range's ragged edges come with it. A unit never marked holds no
-- span and is left out (either way of reading it is free). The refresher sums a not-clean hour from
-- its units when all are clean, and names their refreshes in the hour's stamp (rollup_merge,
-- rollup_stamp). One pass over the units: each carries its hour's verdict (window functions).
SELECT u.unit AS unit, u.marked_at < u.computed_at AS clean, u.computed_at AS computed_at
FROM
(
    SELECT
        m.unit AS unit,
        m.marked_at AS marked_at,
        s.computed_at AS computed_at,
        toStartOfHour(m.unit) AS hour,
        max(m.marked_at >= s.computed_at) OVER (PARTITION BY toStartOfHour(m.unit)) AS changed,
        sum(cityHash64(m.unit, s.computed_at)) OVER (PARTITION BY toStartOfHour(m.unit)) AS basis
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
ORDER BY unit
SETTINGS join_use_nulls = 0
