-- The latest fired/resolved event per rule and side: the evaluator's state after a restart.
SELECT tenant, rule_id, side, argMax(kind, (at, event_id)) AS last_kind
FROM alert_events FINAL
WHERE kind IN ('fired', 'resolved')
GROUP BY tenant, rule_id, side
