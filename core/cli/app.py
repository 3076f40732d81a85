"""The `tierscope` command group and what its commands share: settings from flags, the read-API
client, one-line failures and table/JSON/CSV output.

Commands import the collector's modules inside their bodies, so `tierscope --help` and the reading
commands start without loading the embedded engine.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from decimal import Decimal
from typing import Any

import click

from tierscope.client import ApiClient, ApiError
from tierscope.settings import Settings
from tierscope.terms import DIMENSIONS

FORMATS = click.Choice(["table", "json", "csv"])
api_option = click.option("--api", help="Collector URL [env TIERSCOPE_API, http://127.0.0.1:4318].")


def format_option(*choices: str) -> Any:
    """`--format` with these choices, the first the default."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True)


def _settings(**overrides: Any) -> Settings:
    """Explicit flags beat TIERSCOPE_* environment variables, which beat defaults."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _api(api: str | None) -> ApiClient:
    settings = Settings()
    return ApiClient(api or settings.api, token=settings.token)


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.group()
@click.version_option(package_name="tierscope")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """tierscope: per-role LLM spend, quality and routing recommendations from OTel GenAI spans."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# --- reading -------------------------------------------------------------------------------------
def _emit(rows: list[dict[str, Any]], total: dict[str, Any] | None, fmt: str, columns: list[str],
          payload: dict[str, Any]) -> None:
    if fmt == "json":
        click.echo(json.dumps(payload, indent=2))
        return
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        if total is not None:
            writer.writerow({**total, columns[0]: "TOTAL"})
        click.echo(out.getvalue(), nl=False)
        return
    shown = [*rows, {**total, columns[0]: "TOTAL"}] if total is not None else rows
    cells = [[_cell(r.get(c)) for c in columns] for r in shown]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        click.echo("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _numeric(text: str) -> bool:
    try:
        Decimal(text)
        return True
    except ArithmeticError:
        return False


def _by(value: str) -> list[str]:
    by = [b.strip() for b in value.split(",") if b.strip()]
    bad = [b for b in by if b not in DIMENSIONS]
    if bad or not by:
        raise click.BadParameter(f"choose from {', '.join(DIMENSIONS)}", param_hint="--by")
    return by


def _read(api: str | None, path: str, **params: Any) -> dict[str, Any]:
    client = _api(api)
    try:
        return client.get(path, **params)
    except ApiError as exc:
        _fail(str(exc))
        raise  # unreachable
    finally:
        client.close()


def _post(api: str | None, path: str, **kwargs: Any) -> dict[str, Any]:
    client = _api(api)
    try:
        response = client._http.post(f"/api/v1/{path}", **kwargs)
    except Exception:
        _fail(f"cannot reach the collector at {client.base_url}")
    if response.status_code != 200:
        try:
            reason = response.json().get("error", response.text)
        except ValueError:
            reason = response.text[:200]
        _fail(f"collector answered {response.status_code}: {reason}")
    return response.json()
