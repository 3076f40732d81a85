-- Claim a notice unless it is already claimed; stamped with the server's clock, so the first claim
-- written is the earliest and wins (budget_notice_winner).
INSERT INTO budget_notices
SELECT {tenant:String}, {budget_id:String}, {month:String}, {kind:String}, {threshold:UInt16},
       {claim_id:String}, now64(6, 'UTC'), {observed_usd:Decimal(38, 18)}, {detail:String}
WHERE (
    SELECT count()
    FROM budget_notices
    WHERE tenant = {tenant:String} AND budget_id = {budget_id:String} AND month = {month:String}
      AND kind = {kind:String} AND threshold = {threshold:UInt16}
) = 0
