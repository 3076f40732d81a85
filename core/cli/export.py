"""`tierscope export`: a month's spans and month-close table as Parquet or CSV, with a schema note, for BI."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tierscope.cli.app import api_option, format_option, main
from tierscope.errors import ApiError, BadParameter, StoreError
from tierscope.settings import Settings


@main.command("export")
@click.option("--month", required=True, help="YYYY-MM.")
@format_option("parquet", "csv")
@click.option("--out", default=".", show_default=True, help="Folder to write into.")
@click.option("--tz", default="UTC", show_default=True, help="Time zone of the month boundaries.")
@api_option
@click.option("--store", help="Read this store directly instead (no collector may be running on it).")
def export(month: str, fmt: str, out: str, tz: str, api: str | None, store: str | None) -> None:
    """Export MONTH's spans and month-close table as Parquet or CSV, with a schema note, for BI."""
    from tierscope.collector.interop.export import api_reader, export_month, store_reader
    from tierscope.collector.store.clickhouse import Store

    opened = None
    try:
        settings = Settings()
        if store:
            opened = Store(store)
            read = store_reader(opened, policy_file=settings.policy_file, prices_file=settings.prices_file)
        else:
            read = api_reader(api or settings.api, settings.token)
        note = export_month(read, month, fmt, Path(out), tz)
    except (ApiError, BadParameter, StoreError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if opened:
            opened.close()
    click.echo(json.dumps({"files": note["files"], "totals": note["totals"]}))
