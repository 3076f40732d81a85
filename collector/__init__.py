"""The collector: OTLP in, exact prices, ClickHouse, the read API, alerts and the recommender.

Read it top-down by subpackage: ingest (an OTLP span becomes a row) -> pricing (a dollar is computed)
-> store (rows are kept, rolled up) -> read (the API answers) -> alerts (an alert fires) ->
recommender and offpolicy (a routing policy is proposed and checked) -> interop (other tools' formats)
-> server (the running process, the only reader of Settings). Each subpackage's docstring says what
it owns and what it may import; tests/unit/test_layout.py keeps the graph free of cycles.
"""
