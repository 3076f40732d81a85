"""The ClickHouse store and everything that keeps it: the Store (embedded chdb or a server, named
queries, migrations), cluster DDL, reconnecting to a server store, the ingest write-ahead log (wal,
wal_format) and the store feeder that drains it, the hourly rollup with its refresher, and the
background thread (loop) that the feeder, the refresher and the alert runner run on.

May import tierscope.errors, tierscope.clock, tierscope.terms and tierscope.sql; the feeder also takes
collector.ingest's batch builder (what it inserts is built there).
"""
