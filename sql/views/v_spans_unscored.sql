-- How a span is read: deduplicated (FINAL: a retried batch writes the same key again and
-- ReplacingMergeTree keeps one row), scoped to a tenant and [since, until), filtered by the shared
-- dashboard filters. Reads that use no quality (the filter values, the misrouted calls) read this
-- view and skip v_spans' late-quality join; v_spans and v_spans_part read their spans from here, so
-- the scope of a read is written down once.
CREATE OR REPLACE VIEW v_spans_unscored AS
SELECT *
FROM llm_spans FINAL
WHERE tenant = {tenant:String}
  AND start_time >= {since:DateTime64(9, 'UTC')}
  AND start_time < {until:DateTime64(9, 'UTC')}
  AND (empty({roles:Array(String)}) OR has({roles:Array(String)}, role))
  AND (empty({teams:Array(String)}) OR has({teams:Array(String)}, team))
  AND (empty({services:Array(String)}) OR has({services:Array(String)}, service))
  AND (empty({environments:Array(String)}) OR has({environments:Array(String)}, environment));
