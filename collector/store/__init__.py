"""The ClickHouse store and everything that keeps it: the Store (embedded chdb or a server, named
queries, migrations), cluster DDL, reconnecting to a server store, the ingest spool and writer, and the
hourly rollup with its refresher.

May import tierscope.errors, tierscope.clock, tierscope.terms and tierscope.sql; nothing else in the
collector (every other subpackage builds on this one).
"""
