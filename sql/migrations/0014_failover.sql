-- A Router failover retry (the provider failed the call: a 429, a 5xx, a timeout, a refusal) names
-- the model that failed (tierscope.router.failover_from) and why (tierscope.router.failover_reason:
-- rate_limited, server_error, timeout, connection, refusal or the caller's own code), as an
-- escalation retry names escalated_from. Rows stored before read '' for both: no failover.
ALTER TABLE llm_spans
    ADD COLUMN IF NOT EXISTS failover_from LowCardinality(String),
    ADD COLUMN IF NOT EXISTS failover_reason LowCardinality(String);
