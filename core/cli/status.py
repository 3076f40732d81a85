"""`tierscope status`: is the collector healthy, and how much is waiting in its ingest log."""

from __future__ import annotations

import json

import click
import httpx

from tierscope.cli.app import _api, api_option, format_option, main
from tierscope.errors import ApiError


def status_line(health: dict, stats: dict) -> str:
    """One line: health, the ingest log's backlog and the store feeder's rate."""
    line = (f"{health.get('status', '?')}: ingest log {stats.get('log_bytes', 0) / 2**20:.1f} MiB, "
            f"{stats.get('log_records', 0):,} requests waiting, oldest {stats.get('log_oldest_age_s', 0):.1f} s; "
            f"store feeder {stats.get('feeder_spans_per_s', 0):,.0f} spans/s; "
            f"{stats.get('spans_written', 0):,} spans stored, {stats.get('spans_rejected', 0):,} rejected")
    return line + (f" ({health['error']})" if health.get("error") else "")


@main.command()
@format_option("text", "json")
@api_option
def status(fmt: str, api: str | None) -> None:
    """Collector health, the ingest log's backlog (bytes, requests, oldest age) and the feeder's rate."""
    client = _api(api)
    try:
        health = client._http.get("/healthz").json()
    except (httpx.HTTPError, ValueError):
        raise click.ClickException(f"cannot reach the collector at {client.base_url}") from None
    try:
        stats = client.get("stats")
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps({"health": health, "stats": stats}, indent=2))
    else:
        click.echo(status_line(health, stats))
    if health.get("status") != "ok":
        raise SystemExit(1)
