-- Whether the window holds any router-logged decision at all: a scan of one null map, no FINAL and
-- no join, so a store without Router traffic skips offpolicy_decisions (a deduplicating join).
SELECT count() AS routed
FROM llm_spans
WHERE tenant = {tenant:String}
  AND start_time >= {since:DateTime64(9, 'UTC')}
  AND start_time < {until:DateTime64(9, 'UTC')}
  AND router_propensity IS NOT NULL
