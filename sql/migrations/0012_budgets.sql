-- Monthly budgets per tenant and scope (total, team, role, feature, service), and the notices sent
-- for them. A budget row is replaced by a newer one with the same (tenant, budget_id); `deleted`
-- marks a removed budget.
CREATE TABLE IF NOT EXISTS budgets
(
    tenant      LowCardinality(String),
    budget_id   String,
    kind        LowCardinality(String),
    value       String,
    monthly_usd Decimal(38, 18),
    notify_at   Array(UInt16),
    webhooks    Array(String),
    tz          String,
    deleted     Bool,
    updated_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (tenant, budget_id);

-- One row per claim to send a notice (budget, month, kind, threshold). A collector claims a notice
-- only if no claim exists, with the server's time; the earliest claim wins and only its collector
-- sends, so a notice goes out once across restarts and collectors.
CREATE TABLE IF NOT EXISTS budget_notices
(
    tenant       LowCardinality(String),
    budget_id    String,
    month        String,
    kind         LowCardinality(String),
    threshold    UInt16,
    claim_id     String,
    claimed_at   DateTime64(6, 'UTC'),
    observed_usd Decimal(38, 18),
    detail       String
)
ENGINE = MergeTree
ORDER BY (tenant, budget_id, month, kind, threshold, claimed_at, claim_id);
