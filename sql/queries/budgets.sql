-- A tenant's budgets (removed ones left out), or every tenant's when {tenant} is ''.
SELECT *
FROM budgets FINAL
WHERE ({tenant:String} = '' OR tenant = {tenant:String})
  AND NOT deleted
ORDER BY tenant, budget_id
