-- About how many rollup groups each of {tenant}'s hours in [{since}, {until}) will hold once summed
-- from its units, in spend_rollup (groups) and in task_rollup (tasks) (uniq over the units' rows of
-- every refresh: an estimate, on the high side), so the refresher can size its merge statements.
SELECT s.hour AS hour, s.groups AS groups, t.tasks AS tasks
FROM
(
    SELECT toStartOfHour(hour) AS hour,
           uniq(role, tier, model, provider, team, feature, service, environment, service_tier, processing) AS groups
    FROM spend_rollup
    WHERE tenant = {tenant:String} AND minutes = 5 AND hour >= {since:DateTime('UTC')} AND hour < {until:DateTime('UTC')}
    GROUP BY hour
) AS s
LEFT JOIN
(
    SELECT toStartOfHour(hour) AS hour, uniq(trace_id, role, feature, team, service, environment) AS tasks
    FROM task_rollup
    WHERE tenant = {tenant:String} AND minutes = 5 AND hour >= {since:DateTime('UTC')} AND hour < {until:DateTime('UTC')}
    GROUP BY hour
) AS t ON s.hour = t.hour
ORDER BY hour
SETTINGS join_use_nulls = 0
