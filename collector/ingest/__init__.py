"""What an OTLP request becomes: decode (protobuf/JSON, gzip, hostile-body limits), vendor adapters
(other instrumentations' attribute names onto tierscope's), normalize (GenAI spans -> column rows,
quality events, rejections with reasons), rows (the Arrow tables the store takes, priced), batch
(a feeder batch from log records) and workers (optional processes that build batches).

No store, no settings, no network. May import tierscope.errors, tierscope.terms,
tierscope.instrumentation.conventions, collector.pricing and collector.store.wal_format (the log's record).
"""
