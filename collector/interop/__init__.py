"""Data in and out in other tools' formats: importing an OpenTelemetry Collector clickhouseexporter
table (otel_traces) and exporting a month for BI as Parquet/CSV with a schema note (export).

May import collector.ingest, collector.pricing, collector.store, collector.read, tierscope.client,
tierscope.settings (passed in, never read from the environment here).
"""
