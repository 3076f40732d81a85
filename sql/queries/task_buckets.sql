-- Cost per task in scope, in one pass over the tasks (v_tasks), as one row: `buckets`, per {bucket}
-- ('hour', 'day', 'week' or 'month', in time zone {tz}) of the tasks' first call, oldest first, and
-- the same figures for the whole scope: tasks, unpriced tasks (a call with no price: cost unknown,
-- left out of what follows), priced tasks, their total and the exact nearest-rank p50/p95: the cost
-- of the ceil(p x n / 100)-th cheapest of the n, a Decimal one of them costs (NULL when none is
-- priced). `dearest`: the {limit} tasks whose priced calls cost most (ties by trace id; a task with an
-- unpriced call ranked by what its priced calls cost, a lower bound), as (-cost, trace_id); the rest
-- of what the table shows comes from task_calls for just those tasks (narrower tuples here are
-- faster: each task passes through the top-N once).
-- The sorted costs of every task (all_sorted) stay inside: only the figures built from them are sent.
SELECT buckets, all_tasks, all_unpriced_tasks, priced_tasks, total_usd, p50_usd, p95_usd, dearest
FROM
(
    SELECT
        arraySort(groupArray((bucket, tasks, unpriced_tasks, tasks - unpriced_tasks, if(tasks = unpriced_tasks, NULL, total),
                              sorted[intDiv((tasks - unpriced_tasks) * 50 + 99, 100)],
                              sorted[intDiv((tasks - unpriced_tasks) * 95 + 99, 100)]))) AS buckets,
        sum(b.tasks) AS all_tasks,
        sum(b.unpriced_tasks) AS all_unpriced_tasks,
        all_tasks - all_unpriced_tasks AS priced_tasks,
        arraySort(arrayFlatten(groupArray(sorted))) AS all_sorted,
        if(priced_tasks = 0, NULL, sum(total)) AS total_usd,
        if(priced_tasks = 0, NULL, all_sorted[intDiv(priced_tasks * 50 + 99, 100)]) AS p50_usd,
        if(priced_tasks = 0, NULL, all_sorted[intDiv(priced_tasks * 95 + 99, 100)]) AS p95_usd,
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
            arraySort(groupArrayIf(cost_usd, unpriced_calls = 0)) AS sorted,
            groupArraySorted({limit:UInt32})((negate(cost_usd), trace_id)) AS top
        FROM v_tasks($tasks)
        GROUP BY bucket
    ) AS b
)
