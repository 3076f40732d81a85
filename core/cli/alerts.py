"""`tierscope alerts list|arm|disarm|ack`: paired cost + quality alerts (on-call)."""

from __future__ import annotations

import json
from typing import Any

import click

from tierscope.cli.app import _emit, _post, _read, api_option, format_option, main


@main.group()
def alerts() -> None:
    """Paired cost + quality alerts (on-call)."""


@alerts.command("list")
@format_option("table", "json")
@api_option
def alerts_list(fmt: str, api: str | None) -> None:
    """Rules with the state of both sides, and recent events."""
    body = _read(api, "alerts")
    rows = [{**r, "cost": r["state"]["cost"], "quality": r["state"]["quality"],
             "scope": ",".join(f"{k}={r[k]}" for k in ("role", "tier", "model", "team") if r[k]) or "all"}
            for r in body["rules"]]
    _emit(rows, None, fmt, ["rule_id", "name", "scope", "armed", "cost", "quality", "cost_ceiling_usd",
                            "quality_floor", "window_seconds"], body)  # the whole body, with --format json
    if fmt == "table" and body["events"]:
        click.echo("")
        _emit(body["events"][:20], None, "table", ["at", "rule_id", "kind", "side", "observed", "threshold"], body)


@alerts.command("arm")
@click.option("--id", "rule_id", help="Rule id (created if new, replaced if it exists).")
@click.option("--name")
@click.option("--role", default="")
@click.option("--tier", default="")
@click.option("--model", default="")
@click.option("--team", default="")
@click.option("--window", "window_seconds", type=int, default=3600, show_default=True, help="Seconds.")
@click.option("--cost-ceiling", help="USD per window.")
@click.option("--cost-pct", type=float, help="Percent over the baseline window's rate.")
@click.option("--baseline", "baseline_seconds", type=int, default=7 * 86400, show_default=True)
@click.option("--quality-floor", type=float, help="Mean score (or pass rate) below which the quality side fires.")
@click.option("--metric", "quality_metric", type=click.Choice(["mean", "pass_rate"]), default="mean")
@click.option("--min-samples", type=int, default=20, show_default=True)
@click.option("--webhook", "webhooks", multiple=True, help="URL to notify (repeatable; Slack URLs get Slack's shape).")
@format_option("table", "json")
@api_option
def alerts_arm(fmt: str, api: str | None, cost_ceiling: str | None, cost_pct: float | None, **rule: Any) -> None:
    """Arm a paired rule: both a cost side and a quality side are required."""
    body = {**rule, "cost_ceiling_usd": cost_ceiling, "cost_pct_over_baseline": cost_pct,
            "webhooks": list(rule["webhooks"])}
    result = _post(api, "alerts/rules", json=body)
    click.echo(json.dumps(result, indent=2) if fmt == "json" else f"armed {result['armed']['rule_id']}")


@alerts.command("disarm")
@click.argument("rule_id")
@api_option
def alerts_disarm(rule_id: str, api: str | None) -> None:
    """Disarm a rule (kept, with its history)."""
    _post(api, f"alerts/rules/{rule_id}/disarm")
    click.echo(f"disarmed {rule_id}")


@alerts.command("ack")
@click.argument("rule_id")
@click.option("--by", "who", default="", help="Who acknowledges.")
@api_option
def alerts_ack(rule_id: str, who: str, api: str | None) -> None:
    """Acknowledge a rule's current alert."""
    _post(api, f"alerts/rules/{rule_id}/ack", params={"by": who})
    click.echo(f"acknowledged {rule_id}")
