"""`tierscope budget set|list|rm`: monthly budgets per scope (finance), through the collector's API."""

from __future__ import annotations

import json

import click

from tierscope.cli.app import _api, _emit, _fail, _post, _read, api_option, format_option, main



@main.group()
def budget() -> None:
    """Monthly budgets with forecasts and threshold notices (finance)."""


@budget.command("set")
@click.option("--team", help="Budget one team's spend.")
@click.option("--role", help="... or one role's.")
@click.option("--feature", help="... or one feature's.")
@click.option("--service", help="... or one service's (none of these: all spend).")
@click.option("--monthly-usd", required=True, help="The budget per calendar month, in US dollars.")
@click.option("--notify-at", default="80,100", show_default=True, help="Percentages of the budget to notify at.")
@click.option("--webhook", "webhooks", multiple=True, help="URL to notify (repeatable; Slack URLs get Slack's shape).")
@click.option("--tz", default="UTC", show_default=True, help="Time zone of the month boundaries.")
@api_option
def budget_set(monthly_usd: str, notify_at: str, webhooks: tuple[str, ...], tz: str, api: str | None,
               **scopes: str | None) -> None:
    """Set the monthly budget of one scope (replacing its budget, if it has one)."""
    given = {k: v for k, v in scopes.items() if v}
    if len(given) > 1:
        _fail("a budget has one scope: give at most one of --team, --role, --feature, --service")
    kind, value = next(iter(given.items()), ("total", ""))
    result = _post(api, "budgets", json={"kind": kind, "value": value, "monthly_usd": monthly_usd,
                                         "notify_at": notify_at, "webhooks": list(webhooks), "tz": tz})
    saved = result["saved"]
    click.echo(f"budget {saved['budget_id']}: ${saved['monthly_usd']} a month, notify at "
               f"{','.join(map(str, saved['notify_at']))}%")


@budget.command("list")
@click.option("--month", help="YYYY-MM (default: the current month).")
@format_option("table", "json", "csv")
@api_option
def budget_list(month: str | None, fmt: str, api: str | None) -> None:
    """Each budget's month: spend to date, forecast with its 90% interval, unpriced calls beside."""
    body = _read(api, "budgets", month=month)
    if fmt == "table" and not body["budgets"]:
        click.echo("No budgets yet: `tierscope budget set --team search --monthly-usd 2000`.")
        return
    columns = ["budget_id", "month", "monthly_usd", "spent_usd", "forecast_usd", "forecast_low_usd",
               "forecast_high_usd", "unpriced_spans", "notify_at"]
    rows = [{**b, "notify_at": ",".join(map(str, b["notify_at"]))} for b in body["budgets"]]
    if fmt == "json":
        click.echo(json.dumps(body, indent=2))
        return
    _emit(rows, None, fmt, columns, body)


@budget.command("rm")
@click.argument("budget_id")
@api_option
def budget_rm(budget_id: str, api: str | None) -> None:
    """Remove a budget (BUDGET_ID as `budget list` shows it: total, team:search, ...)."""
    client = _api(api)
    try:
        response = client._http.delete("/api/v1/budgets", params={"budget_id": budget_id})
    except Exception:
        _fail(f"cannot reach the collector at {client.base_url}")
    finally:
        client.close()
    if response.status_code != 200:
        _fail(f"collector answered {response.status_code}: {response.json().get('error', response.text)}")
    click.echo(f"removed {budget_id}")
