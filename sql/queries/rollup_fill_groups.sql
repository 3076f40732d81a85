-- About how many rollup groups each of {tenant}'s 5-minute units in [{since}, {until}) holds, in
-- spend_rollup (groups) and in task_rollup (tasks) (uniq: an approximate count in bounded memory),
-- so the refresher can size its fill statements (collector/store/rollup.py fill_batches).
-- Duplicates are not removed: an estimate needs no FINAL.
SELECT
    toStartOfFiveMinutes(start_time) AS hour,
    uniq(role, tier, model, provider, team, feature, service, environment, service_tier, processing) AS groups,
    uniq(trace_id, role, feature, team, service, environment) AS tasks
FROM llm_spans
WHERE tenant = {tenant:String}
  AND start_time >= {since:DateTime64(9, 'UTC')}
  AND start_time < {until:DateTime64(9, 'UTC')}
GROUP BY hour
ORDER BY hour
