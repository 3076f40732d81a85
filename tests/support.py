"""Helpers shared by the collector tests: a real collector on free ports, real OTel SDK senders."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from tierscope.collector.server import BackgroundCollector
from tierscope.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_collector(path: Path, **overrides) -> Iterator[BackgroundCollector]:
    settings = Settings(store=f"chdb:{path}", http_port=free_port(), grpc_port=free_port(),
                        prices_file=str(overrides.pop("prices_file", "")), **overrides)
    with BackgroundCollector(settings) as collector:
        yield collector


def sdk_provider(exporter: SpanExporter, service: str = "agent", batch: bool = True) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    processor = (BatchSpanProcessor(exporter, max_queue_size=50_000, max_export_batch_size=500,
                                    schedule_delay_millis=50)
                 if batch else SimpleSpanProcessor(exporter))
    provider.add_span_processor(processor)
    return provider


def http_exporter(collector: BackgroundCollector):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces")


def grpc_exporter(collector: BackgroundCollector):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"127.0.0.1:{collector.settings.grpc_port}", insecure=True)
