"""The running collector: the Collector service (the one place that turns Settings into parts and
passes them down), the OTLP/HTTP + read API app, the OTLP/gRPC server, tenant auth, and
BackgroundCollector / serve to run it.

May import every other collector subpackage; none of them imports this one.
"""
