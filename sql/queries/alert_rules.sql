SELECT *
FROM alert_rules FINAL
WHERE tenant = {tenant:String}
ORDER BY rule_id
