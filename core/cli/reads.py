"""`tierscope spend|month|misrouted|recommend|levers`: read the collector's API from the terminal.

Every reading command goes through the collector's read API (`--api`, env TIERSCOPE_API), since
the collector owns the embedded store."""

from __future__ import annotations

import json
from typing import Any

import click

from tierscope.cli.app import _by, _emit, _fail, _read, api_option, format_option, main
from tierscope.terms import DEFAULT_QUALITY_TARGET, DIMENSIONS


@main.command()
@click.option("--by", "by_text", default="role", show_default=True, help="Comma-separated: " + ",".join(DIMENSIONS))
@click.option("--since", help="ISO 8601 start (inclusive), e.g. 2026-11-01T00:00:00Z.")
@click.option("--until", help="ISO 8601 end (exclusive).")
@click.option("--role", multiple=True, help="Only these roles (repeatable).")
@click.option("--team", multiple=True, help="Only these teams (repeatable).")
@format_option("table", "json", "csv")
@api_option
def spend(by_text: str, since: str | None, until: str | None, role: tuple[str, ...], team: tuple[str, ...],
          fmt: str, api: str | None) -> None:
    """Spend, calls, tokens and quality grouped by role, tier, model, team, ..."""
    by = _by(by_text)
    body = _read(api, "spend", by=by, since=since, until=until, role=list(role), team=list(team))
    columns = [*by, "spans", "input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens",
               "cost_usd", "unpriced_spans", "quality_mean"]
    payload = {"rows": body["rows"], "total": body["total"]}
    _emit(body["rows"], body["total"], fmt, columns, payload)


@main.command()
@click.argument("month")
@click.option("--by", "by_text", default="team,role,model", show_default=True)
@click.option("--tz", default="UTC", show_default=True, help="Time zone of the month boundaries.")
@format_option("table", "json", "csv")
@api_option
def month(month: str, by_text: str, tz: str, fmt: str, api: str | None) -> None:
    """Month close: MONTH (YYYY-MM) by team, role and model, with a grand total that reconciles.

    previous_to_date_cost_usd is the previous month up to the same day-of-month and time (clipped to
    its end), change_to_date_usd the change against it; previous_cost_usd is the whole previous month."""
    by = _by(by_text)
    body = _read(api, "month", month=month, by=by, tz=tz)
    columns = [*by, "spans", "input_tokens", "output_tokens", "cost_usd", "previous_to_date_cost_usd",
               "change_to_date_usd", "previous_cost_usd", "unpriced_spans"]
    if fmt == "table":
        total, compared = body["total"], body["previous_to_date"]
        click.echo(f"{month} ({tz}), forecast ${body['forecast_usd']}, "
                   f"{body['share_unpriced']:.1%} of spans unpriced; vs {body['previous_month']} to the same "
                   f"day and time ({compared['since']} to {compared['until']}): ${total['change_to_date_usd']}, "
                   f"{body['previous_month']} in full ${total['previous_cost_usd']}", err=True)
    _emit(body["rows"], body["total"], fmt, columns, body)


@main.command()
@format_option("table", "json")
@click.option("--since", help="ISO 8601 start.")
@click.option("--until", help="ISO 8601 end.")
@api_option
def misrouted(fmt: str, since: str | None, until: str | None, api: str | None) -> None:
    """Frontier calls that a cheaper tier could have served, ranked by the saving."""
    body = _read(api, "misrouted", since=since, until=until)
    if fmt == "json":
        click.echo(json.dumps(body, indent=2))
        return
    rows = body.get("rows", [])
    if not rows:
        click.echo("No misrouted frontier calls found.")
        return
    columns = [c for c in ("kind", "role", "tier", "model", "target_tier", "target_model", "calls", "saving_usd",
                           "quality_n", "quality_low", "quality_high") if any(c in r for r in rows)]
    _emit(rows, None, "table", columns, body)


@main.command()
@format_option("yaml", "json")
@click.option("--window-days", type=int, default=30, show_default=True,
              help="Evidence window: the last N days, from the start of the hour N days ago.")
@click.option("--quality-target", type=float, default=DEFAULT_QUALITY_TARGET, show_default=True,
              help="Overall quality to keep, as a share of all-frontier.")
@click.option("--seed", type=int, default=0, show_default=True)
@api_option
def recommend(fmt: str, window_days: int, quality_target: float, seed: int, api: str | None) -> None:
    """The recommended routing policy (role -> model and tier) from your own telemetry."""
    body = _read(api, "recommend", window_days=window_days, quality_target=quality_target, seed=seed)
    if body.get("policy", True) is None:
        _fail(body.get("message", "nothing to recommend yet"))
    if fmt == "yaml":
        click.echo(body["yaml"], nl=False)
        click.echo("\n".join(f"# {line}" for line in _offpolicy_lines(body.get("offpolicy"))))
    else:
        click.echo(json.dumps({k: v for k, v in body.items() if k != "yaml"}, indent=2))


def _offpolicy_lines(report: dict[str, Any] | None) -> list[str]:
    """The off-policy estimate in words; YAML comments under the policy, so the file still loads."""
    if not report:
        return []
    if report.get("status") != "ok":
        return [f"off-policy estimate: {report.get('message', 'none')}"]
    cost, quality, logged = report["cost_per_call_usd"], report["quality"], report["logged"]
    level = f"{report['confidence_level']:.0%}"
    lines = [f"off-policy estimate of this policy from {report['n']} router-logged calls "
             f"({report['matched']} on its models; IPS, {level} interval):"]
    if cost:
        lines.append(f"  cost per call ${cost['estimate']} [{cost['low']}, {cost['high']}]"
                     f" (logged routing: ${logged['cost_per_call_usd']})")
    if quality:
        lines.append(f"  quality {quality['estimate']:.3f} [{quality['low']:.3f}, {quality['high']:.3f}]"
                     f" (logged routing: {logged['quality']:.3f}, n={quality['n']})")
    if report.get("unsupported_roles"):
        lines.append(f"  not covered (no logged call on the recommended model): {', '.join(report['unsupported_roles'])}")
    return lines


@main.command()
@click.option("--since", help="ISO 8601 start (inclusive), e.g. 2026-11-01T00:00:00Z.")
@click.option("--until", help="ISO 8601 end (exclusive).")
@click.option("--bucket", type=click.Choice(["hour", "day", "week", "month"]), default="day", show_default=True,
              help="Time buckets of the series (--format json/csv).")
@click.option("--tz", default="UTC", show_default=True, help="Time zone of the buckets.")
@format_option("table", "json", "csv")
@api_option
def levers(since: str | None, until: str | None, bucket: str, tz: str, fmt: str, api: str | None) -> None:
    """Per role: share of calls per tier, escalation and failover rates and their cost, spend, and
    what the prompt cache saved and batch processing would save (latency-tolerant roles)."""
    body = _read(api, "levers", since=since, until=until, bucket=bucket, tz=tz)
    if fmt == "csv":  # the series: one row per bucket, role and tier
        columns = ["bucket", "role", "tier", "spans", "cost_usd", "escalated_spans", "escalated_cost_usd",
                   "failover_spans", "failover_cost_usd", "cache_read_tokens", "input_tokens", "cache_saving_usd",
                   "batch_saving_usd", "unpriced_spans"]
        _emit(body["series"], None, "csv", columns, body)
        return
    rows = [_lever_line(r) for r in body["roles"]]
    columns = ["role", "spans", "cost_usd", "tiers", "escalation_rate", "escalation_cost_usd", "failover_rate",
               "failover_cost_usd", "cache_read_share", "cache_saving_usd", "batch_saving_usd"]
    _emit(rows, _lever_line(body["total"]) if fmt == "table" else None, fmt, columns, body)


def _lever_line(r: dict[str, Any]) -> dict[str, Any]:
    """One role's levers as table cells; the batch saving only for latency-tolerant roles."""
    def rate(value: float | None) -> str | None:
        return None if value is None else f"{value:.1%}"
    return {
        "role": r["role"], "spans": r["spans"], "cost_usd": r["cost_usd"],
        "tiers": " ".join(f"{t}:{s['share']:.0%}" for t, s in r["tiers"].items()),
        "escalation_rate": rate(r["escalations"]["rate"]), "escalation_cost_usd": r["escalations"]["cost_usd"],
        "failover_rate": rate(r["failovers"]["rate"]), "failover_cost_usd": r["failovers"]["cost_usd"],
        "cache_read_share": rate(r["cache"]["read_share"]), "cache_saving_usd": r["cache"]["saving_usd"],
        "batch_saving_usd": r["batch"]["saving_usd"] if r["batch"]["latency_tolerant"] else None,
    }
