-- The claim that won a notice: the earliest, ties broken by claim id.
SELECT claim_id
FROM budget_notices
WHERE tenant = {tenant:String} AND budget_id = {budget_id:String} AND month = {month:String}
  AND kind = {kind:String} AND threshold = {threshold:UInt16}
ORDER BY claimed_at, claim_id
LIMIT 1
