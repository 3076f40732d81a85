"""`tierscope reconcile`: a month's provider invoices against what tierscope measured, per provider
and model (tierscope's side through the collector's read API)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tierscope.cli.app import _emit, _fail, _read, api_option, format_option, main


@main.command()
@click.option("--month", required=True, help="YYYY-MM.")
@click.option("--invoice", "invoices", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="A cost export: OpenAI Costs API JSON, Anthropic cost report JSON, or CSV "
                   "date,provider,model,amount_usd (repeatable).")
@click.option("--tz", default="UTC", show_default=True, help="Time zone of the month (invoice dates are days in it).")
@format_option("table", "json", "csv")
@api_option
def reconcile(month: str, invoices: tuple[str, ...], tz: str, fmt: str, api: str | None) -> None:
    """Line the invoices up with tierscope per provider and model: difference = invoice - tierscope,
    coverage = tierscope / invoice; untracked (invoice only) and unbilled (tierscope only) rows;
    snapshot names matched to aliases, ambiguous matches reported, not guessed."""
    from tierscope.collector.interop.invoices import InvoiceError, parse_invoice  # the CLI's lazy imports (cli.app)
    from tierscope.collector.interop.reconcile import COLUMNS, reconcile as reconcile_month

    lines = []
    for path in invoices:
        try:
            lines += parse_invoice(Path(path).name, Path(path).read_bytes())
        except InvoiceError as exc:
            _fail(str(exc))
    measured = _read(api, "month", month=month, tz=tz, by=["provider", "model"])
    body = reconcile_month(month, tz, lines, measured["rows"])
    if fmt == "table":
        total = body["total"]
        coverage = "—" if total["coverage"] is None else f"{float(total['coverage']):.1%}"
        click.echo(f"{month} ({tz}): invoice ${total['invoice_usd']}, tierscope ${total['tierscope_usd']}, "
                   f"difference ${total['difference_usd']}, coverage {coverage}", err=True)
        for a in body["ambiguous"]:
            click.echo(f"ambiguous ({a['provider']}): billed {', '.join(a['invoice_models'])} vs measured "
                       f"{', '.join(a['tierscope_models'])}: not matched", err=True)
    if fmt == "json":
        click.echo(json.dumps(body, indent=2))
        return
    _emit(body["rows"], {**body["total"], "model": "", "unpriced_spans": ""}, fmt, COLUMNS, body)
