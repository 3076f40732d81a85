-- Every published routing-policy version of a tenant in its latest state, newest first.
SELECT *
FROM policy_versions FINAL
WHERE tenant = {tenant:String}
ORDER BY version DESC
