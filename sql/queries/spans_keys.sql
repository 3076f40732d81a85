-- The newest spans in scope, narrowed as spans_list narrows them, by key and start time only (no
-- late-quality join): a page of spans_list then reads the full rows of just these spans, over just
-- their time range, instead of joining the quality of every span in the range (collector/read/spend.py).
SELECT start_time, trace_id, span_id
FROM v_spans_unscored($scope)
WHERE ({tier:String} = '' OR tier = {tier:String})
  AND ({model:String} = '' OR model = {model:String})
  AND ({provider:String} = '' OR provider = {provider:String})
  AND ({trace_id:String} = '' OR trace_id = {trace_id:String})
ORDER BY start_time DESC, trace_id, span_id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}
