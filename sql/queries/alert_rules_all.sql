-- Every armed rule of every tenant, for the evaluator.
SELECT *
FROM alert_rules FINAL
WHERE armed
ORDER BY tenant, rule_id
