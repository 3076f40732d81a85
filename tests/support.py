"""Helpers shared by the collector tests: a real collector on free ports, real OTel SDK senders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path


from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from tierscope.collector.server.background import BackgroundCollector
from tierscope.collector.store import rollup
from tierscope.collector.store.clickhouse import Store
from tierscope.launch import dashboard_command, wait_healthy
from tierscope.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_collector(path: Path, **overrides) -> Iterator[BackgroundCollector]:
    """A collector on the store at `path`, on free ports; `overrides` are Settings fields
    (`grpc_port=0`: no gRPC)."""
    prices = str(overrides.pop("prices_file", ""))
    collector = start_collector(lambda: Settings(**{"store": f"chdb:{path}", "http_port": free_port(),
                                                    "grpc_port": free_port(), "prices_file": prices, **overrides}))
    try:
        yield collector
    finally:
        collector.stop()


def start_collector(settings: Callable[[], Settings], attempts: int = 3) -> BackgroundCollector:
    """A started BackgroundCollector on `settings()`. Another process on the machine may take a free
    port between `free_port()` and the bind: then it is tried again with new settings (new ports).
    One that fails to start gives its store back (BackgroundCollector.start does that)."""
    attempt = 1
    while True:
        collector = BackgroundCollector(settings())
        try:
            return collector.start()
        except (Exception, SystemExit):  # uvicorn exits when its bind fails
            if attempt == attempts:
                raise
            attempt += 1


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


def serve_collector(store: str, port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`tierscope serve` as its own process (HTTP on `port`, no gRPC, no price overrides)."""
    return subprocess.Popen([sys.executable, "-m", "tierscope.cli", "serve", "--store", store, "--http-port", str(port),
                             "--grpc-port", "0", "--prices", ""], stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})


@contextmanager
def running_dashboard(api_url: str, log_path: Path) -> Iterator[str]:
    """The dashboard served as `tierscope up` serves it, reading `api_url`; yields its URL."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(dashboard_command(port, "127.0.0.1"), env={**os.environ, "TIERSCOPE_API": api_url},
                                   stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, process, "/_stcore/health", timeout=60, log=f"see {log_path}")
            yield url
        finally:
            process.terminate()
            process.wait(30)


def mark_every_hour(store: Store, tenant: str = "default") -> list[datetime]:
    """Mark every hour from the tenant's first span to its last as changed (its first 5-minute unit),
    as a backfill that touched all of them would, and return those hours. Ingest marks only the units
    it wrote; with sparse test data those are hundreds of runs cut apart by empty hours, and a read
    takes each run from v_spans in a query of its own. Marked end to end, the range is one raw read
    (the empty units between marked ones go with them), and one refresh statement (`settle_rollup`)."""
    ((first, last),) = store.rows("SELECT min(start_time), max(start_time) FROM llm_spans WHERE tenant = {t:String}",
                                  {"t": tenant})
    hour, end = rollup.floor_hour(first.replace(tzinfo=UTC)), last.replace(tzinfo=UTC)
    hours = []
    while hour <= end:
        hours.append(hour)
        hour += timedelta(hours=1)
    store.execute("rollup_mark_units", {"tenants": [tenant] * len(hours), "units": hours})
    return hours


def settle_rollup(store: Store, tenant: str = "default") -> int:
    """Every hour with spans recomputed into the rollup (reads take them from it), in as few fill
    statements as the group limit allows; returns the hours recomputed."""
    hours = mark_every_hour(store, tenant)
    return rollup.refresh(store, chunk_hours=len(hours))
