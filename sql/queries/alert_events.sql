SELECT *
FROM alert_events FINAL
WHERE tenant = {tenant:String}
  AND ({rule_id:String} = '' OR rule_id = {rule_id:String})
ORDER BY at DESC, event_id
LIMIT {limit:UInt32}
