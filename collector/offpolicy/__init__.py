"""Off-policy evaluation: what a candidate routing policy would have cost and scored, estimated from
router-logged calls with their propensities (estimate, pure), and its report for the API (api).

May import collector.store, collector.read (exact money text).
"""
