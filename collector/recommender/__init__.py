"""Where a recommendation comes from: per-(role, model) evidence from the store (stats), the bandit
and its decision (bandit, decide, price, solver; pure numpy), the result type (policy), the routing
policy file (policy_file), offline replay on outcome files (outcomes, baselines, replay) and GET
/api/v1/recommend (api).

May import collector.store, collector.read, collector.alerts (a firing quality alert demotes an arm),
collector.offpolicy, tierscope.errors, tierscope.terms, tierscope.clock.
"""
