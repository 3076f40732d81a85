-- The notices claimed for a tenant's month: the winning (earliest) claim of each.
SELECT budget_id, kind, threshold,
       argMin(claim_id, (claimed_at, claim_id)) AS claim_id,
       min(claimed_at) AS at,
       argMin(observed_usd, (claimed_at, claim_id)) AS observed_usd,
       argMin(detail, (claimed_at, claim_id)) AS detail
FROM budget_notices
WHERE tenant = {tenant:String}
  AND month = {month:String}
GROUP BY budget_id, kind, threshold
ORDER BY budget_id, at, kind, threshold
SETTINGS prefer_column_name_to_alias = 1
