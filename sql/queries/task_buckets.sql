-- Cost per task in scope, in one pass over the tasks (v_tasks), as one row: `buckets`, per {bucket}
-- ('hour', 'day', 'week' or 'month', in time zone {tz}) of the tasks' first call, oldest first, and
-- the same figures for the whole scope: tasks, unpriced tasks (a call with no price: cost unknown,
-- left out of what follows), priced tasks, their total and the exact nearest-rank p50/p95: the cost
-- of the ceil(p x n / 100)-th cheapest of the n, a Decimal one of them costs (NULL when none is
-- priced). `dearest`: the {limit} tasks whose priced calls cost most (ties by trace id; a task with an
-- unpriced call ranked by what its priced calls cost, a lower bound), as (-cost, trace_id); the rest
-- of what the table shows comes from task_calls for just those tasks (narrower tuples here are
-- faster: each task passes through the top-N once).
-- The percentiles select, they do not sort: quantilesExact takes the element at 0-based index
-- floor(level x n) (nth_element), and at level p - 1e-12 that is ceil(p x n) - 1, the nearest rank, for
-- p of 0.5 and 0.95 and any n below 10^10 (p x n is a whole number, or at least 0.05 above one);
-- tests/integration/test_tasks.py checks it against a sort. The buckets' states merge into the
-- whole scope's, so no cost is collected twice.
SELECT buckets, all_tasks, all_unpriced_tasks, priced_tasks, total_usd, p50_usd, p95_usd, dearest
FROM
(
    SELECT
        arraySort(groupArray((bucket, tasks, unpriced_tasks, tasks - unpriced_tasks, if(tasks = unpriced_tasks, NULL, total),
                              if(tasks = unpriced_tasks, NULL, finalizeAggregation(q)[1]),
                              if(tasks = unpriced_tasks, NULL, finalizeAggregation(q)[2])))) AS buckets,
        sum(b.tasks) AS all_tasks,
        sum(b.unpriced_tasks) AS all_unpriced_tasks,
        all_tasks - all_unpriced_tasks AS priced_tasks,
        quantilesExactMerge(0.499999999999, 0.949999999999)(q) AS all_q,
        if(priced_tasks = 0, NULL, sum(total)) AS total_usd,
        if(priced_tasks = 0, NULL, all_q[1]) AS p50_usd,
        if(priced_tasks = 0, NULL, all_q[2]) AS p95_usd,
        arraySlice(arraySort(arrayFlatten(groupArray(top))), 1, {limit:UInt32}) AS dearest
    FROM
    (
        SELECT
            multiIf({bucket:String} = 'hour', toStartOfHour(first_span, {tz:String}),
                    {bucket:String} = 'day', toDateTime(toStartOfDay(first_span, {tz:String}), {tz:String}),
                    {bucket:String} = 'week', toDateTime(toMonday(first_span, {tz:String}), {tz:String}),
                    toDateTime(toStartOfMonth(first_span, {tz:String}), {tz:String})) AS bucket,
            count() AS tasks,
            countIf(unpriced_calls > 0) AS unpriced_tasks,
            sumIf(cost_usd, unpriced_calls = 0) AS total,
            quantilesExactStateIf(0.499999999999, 0.949999999999)(cost_usd, unpriced_calls = 0) AS q,
            groupArraySorted({limit:UInt32})((negate(cost_usd), trace_id)) AS top
        FROM v_tasks($tasks)
        GROUP BY bucket
    ) AS b
)
