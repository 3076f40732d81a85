"""`tierscope serve|up|demo|dashboard`: run the collector, the dashboard, or both (with the demo workload)."""

from __future__ import annotations

import sys
from typing import Any

import click

from tierscope.cli.app import _fail, _settings, main
from tierscope.settings import Settings


def server_options(fn):
    fn = click.option("--store", help="chdb:PATH or http(s)://user:pass@host:8123/db [env TIERSCOPE_STORE].")(fn)
    fn = click.option("--host", help="Address to bind [127.0.0.1].")(fn)
    fn = click.option("--http-port", type=int, help="OTLP/HTTP and read API port [4318].")(fn)
    fn = click.option("--grpc-port", type=int, help="OTLP/gRPC port, 0 to disable [4317].")(fn)
    fn = click.option("--prices", "prices_file", help="Price overrides file [prices.toml].")(fn)
    fn = click.option("--tiers", help="model=tier pairs overriding the price-band default.")(fn)
    fn = click.option("--tokens-file", help="File of `token tenant` lines; turns auth on [env TIERSCOPE_TOKENS].")(fn)
    return fn


def _run_collector(settings: Settings) -> None:
    import asyncio

    from tierscope.collector.server.background import serve
    from tierscope.collector.store.clickhouse import StoreError

    try:
        asyncio.run(serve(settings, warm_workers=True))
    except KeyboardInterrupt:
        pass
    except (StoreError, OSError, ValueError) as exc:
        _fail(str(exc))


@main.command()
@server_options
def serve(**flags: Any) -> None:
    """Run the collector: OTLP receiver (HTTP + gRPC), store writer and read API."""
    settings = _settings(**flags)
    click.echo(f"tierscope collector: OTLP http://{settings.host}:{settings.http_port} "
               f"grpc {settings.host}:{settings.grpc_port} store {settings.store}", err=True)
    _run_collector(settings)


@main.command()
@server_options
@click.option("--dashboard-port", type=int, help="Streamlit port [8501].")
def up(dashboard_port: int | None, **flags: Any) -> None:
    """Run the collector and the dashboard together."""
    from tierscope.launch import run_up

    run_up(_settings(dashboard_port=dashboard_port, **flags), workload=False)


@main.command()
@server_options
@click.option("--dashboard-port", type=int, help="Streamlit port [8501].")
def demo(dashboard_port: int | None, **flags: Any) -> None:
    """`up` plus a realistic multi-role agent workload sent through the real shims."""
    from tierscope.launch import run_up

    flags["store"] = flags.get("store") or "chdb:.tierscope/demo-store"
    run_up(_settings(dashboard_port=dashboard_port, **flags), workload=True)


@main.command()
@click.option("--api", help="Collector URL to read from [env TIERSCOPE_API, http://127.0.0.1:4318].")
@click.option("--port", type=int, help="Streamlit port [8501].")
@click.option("--host", help="Address to bind [127.0.0.1]; another needs TIERSCOPE_DASHBOARD_PASSWORD.")
def dashboard(api: str | None, port: int | None, host: str | None) -> None:
    """Run only the dashboard, reading from a collector that runs elsewhere."""
    import os
    import subprocess

    from tierscope.collector.server.auth import LOOPBACK_NAMES
    from tierscope.launch import dashboard_command

    settings = _settings(api=api, dashboard_port=port, host=host)
    if settings.host not in LOOPBACK_NAMES and not settings.dashboard_password:
        raise click.ClickException(f"refusing to serve the dashboard on {settings.host} without a login: set "
                                   "TIERSCOPE_DASHBOARD_PASSWORD, or bind 127.0.0.1")
    env = {**os.environ, "TIERSCOPE_API": settings.api}
    click.echo(f"dashboard  http://{settings.host}:{settings.dashboard_port} reading {settings.api}", err=True)
    try:
        sys.exit(subprocess.call(dashboard_command(settings.dashboard_port, settings.host), env=env))
    except KeyboardInterrupt:
        pass
