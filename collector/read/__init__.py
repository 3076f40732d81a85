"""The read API: named, parameterized queries as JSON (params: the shared scope; rows: exact money;
spend; months: month close; misrouted: frontier calls a cheaper tier could serve; tasks: cost per
task) and the table of endpoints (api).

May import collector.store, collector.pricing (misrouted reprices calls), collector.recommender.policy_file,
tierscope.errors, tierscope.terms, tierscope.clock.
"""
