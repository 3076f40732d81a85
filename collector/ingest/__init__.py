"""What an OTLP request becomes: decode (protobuf/JSON, gzip, hostile-body limits), vendor adapters
(other instrumentations' attribute names onto tierscope's), normalize (GenAI spans -> column rows,
quality events, rejections with reasons) and rows (the Arrow tables the store takes, priced).

Pure: no store, no settings, no network. May import tierscope.errors, tierscope.terms,
tierscope.instrumentation.conventions and collector.pricing.
"""
