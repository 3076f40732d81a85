"""`tierscope import-otel`: bring LLM spans from an OTel Collector clickhouseexporter table in.

Two destinations, like `reprice`: a running collector (`--api`, the default: the spans go through
its OTLP/HTTP receiver, so its token decides the tenant) or a store opened directly (`--store`, when
no collector owns it). The otel_traces table is read from `--source` (a ClickHouse URL), or from the
destination store itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tierscope.cli.app import main
from tierscope.collector.interop.otel_traces import ImportCounts, Sink, import_otel_traces
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import StoreError
from tierscope.settings import Settings


def api_sink(base_url: str, token: str = "", timeout: float = 120.0) -> Sink:
    """POST each batch to a collector's /v1/traces as OTLP protobuf; fail on anything but 200."""
    headers = {"content-type": "application/x-protobuf"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def sink(request: ExportTraceServiceRequest, counts: ImportCounts) -> None:
        sent = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        try:
            response = http.post("/v1/traces", content=request.SerializeToString())
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the collector at {base_url} ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise click.ClickException(f"collector answered {response.status_code}; "
                                       f"{counts.spans} spans were imported before this batch")
        partial = ExportTraceServiceResponse.FromString(response.content).partial_success
        counts.rejected += partial.rejected_spans
        counts.spans += sent - partial.rejected_spans  # the collector drops non-LLM candidates silently
        if partial.error_message:
            counts.reasons[partial.error_message[:200]] = counts.reasons.get(partial.error_message[:200], 0) + 1

    return sink


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-11-01T00:00:00Z", param_hint="--since") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@main.command("import-otel")
@click.option("--table", default="otel_traces", show_default=True, help="The clickhouseexporter traces table.")
@click.option("--database", default="default", show_default=True, help="Its database.")
@click.option("--since", help="Only spans starting at or after this ISO 8601 time.")
@click.option("--source", help="ClickHouse URL holding the table [the --store].")
@click.option("--store", help="Write into this store directly (no collector may be running on it).")
@click.option("--api", help="Send to this collector over OTLP/HTTP [env TIERSCOPE_API].")
@click.option("--tenant", default="default", show_default=True, help="Tenant of the spans (--store only).")
@click.option("--prices", "prices_file", help="Price overrides file (--store only) [prices.toml].")
def import_otel(table: str, database: str, since: str | None, source: str | None, store: str | None,
                        api: str | None, tenant: str, prices_file: str | None) -> None:
    """Import LLM spans from an OpenTelemetry Collector ClickHouse exporter table (otel_traces).

    Priced exactly as live ingest; importing the same range again changes nothing.
    """
    settings = Settings(**({"prices_file": prices_file} if prices_file else {}))
    if not source and not store:
        raise click.UsageError("name the ClickHouse holding the table with --source (or --store)")
    opened: list[Store] = []
    try:
        destination = Store(store) if store else None
        if destination:
            opened.append(destination)
            destination.migrate()
        reader = Store(source) if source and source != store else destination
        if reader is not destination:
            opened.append(reader)
        sink = None if destination else api_sink(api or settings.api, settings.token)
        counts = import_otel_traces(destination, table, _since(since), source=reader, database=database,
                                    sink=sink, settings=settings, tenant=tenant)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # a missing table or column comes back from ClickHouse as a long message
        if isinstance(exc, click.ClickException):
            raise
        raise click.ClickException(f"cannot read {database}.{table}: {str(exc).splitlines()[0][:300]}") from None
    finally:
        for s in opened:
            s.close()
    click.echo(json.dumps(counts))
