-- Published routing policies: every version the collector serves at GET /api/v1/policy, what produced
-- it (source), why (reason) and when, and its state (canary, live, superseded, rolled_back). A state
-- change is a new row of the same version with a later updated_at; FINAL reads the latest.
CREATE TABLE IF NOT EXISTS policy_versions
(
    tenant         LowCardinality(String),
    version        UInt32,
    created_at     DateTime64(6, 'UTC'),
    source         LowCardinality(String),
    reason         String,
    parent         UInt32,
    canary_share   Float64,
    changed_roles  Array(String),
    document       String,
    status         LowCardinality(String),
    status_reason  String,
    updated_at     DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (tenant, version);
