"""The `tierscope` command: run the collector and dashboard, and read spend from the terminal.

Every reading command goes through the collector's read API (`--api`, env TIERSCOPE_API), since
the collector owns the embedded store. Expected failures print one line and exit non-zero.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from decimal import Decimal
from typing import Any

import click

from tierscope.client import ApiClient, ApiError
from tierscope.settings import Settings
from tierscope.terms import DIMENSIONS

FORMATS = click.Choice(["table", "json", "csv"])


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
        asyncio.run(serve(settings))
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


@main.command()
@click.option("--by", "by_text", default="role", show_default=True, help="Comma-separated: " + ",".join(DIMENSIONS))
@click.option("--since", help="ISO 8601 start (inclusive), e.g. 2026-11-01T00:00:00Z.")
@click.option("--until", help="ISO 8601 end (exclusive).")
@click.option("--role", multiple=True, help="Only these roles (repeatable).")
@click.option("--team", multiple=True, help="Only these teams (repeatable).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--api", help="Collector URL [env TIERSCOPE_API, http://127.0.0.1:4318].")
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
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--api", help="Collector URL [env TIERSCOPE_API].")
def month(month: str, by_text: str, tz: str, fmt: str, api: str | None) -> None:
    """Month close: MONTH (YYYY-MM) by team, role and model, with a grand total that reconciles."""
    by = _by(by_text)
    body = _read(api, "month", month=month, by=by, tz=tz)
    columns = [*by, "spans", "input_tokens", "output_tokens", "cost_usd", "previous_cost_usd", "change_usd",
               "unpriced_spans"]
    if fmt == "table":
        click.echo(f"{month} ({tz}), forecast ${body['forecast_usd']}, "
                   f"{body['share_unpriced']:.1%} of spans unpriced", err=True)
    _emit(body["rows"], body["total"], fmt, columns, body)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--since", help="ISO 8601 start.")
@click.option("--until", help="ISO 8601 end.")
@click.option("--api", help="Collector URL [env TIERSCOPE_API].")
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
@click.option("--since", help="Only spans starting at or after this ISO 8601 time.")
@click.option("--api", help="Collector URL; the collector reprices its own store.")
@click.option("--store", help="Reprice this store directly (no collector may be running on it).")
@click.option("--prices", "prices_file", help="Price overrides file [prices.toml].")
def reprice(since: str | None, api: str | None, store: str | None, prices_file: str | None) -> None:
    """Recompute stored costs after a genai-prices update or a prices.toml change."""
    from tierscope.collector.pricing.reprice import reprice_store
    from tierscope.collector.store.clickhouse import Store, StoreError

    if store:
        try:
            s = Store(store)
            s.migrate()
            result = reprice_store(s, _settings(prices_file=prices_file), since)
        except (StoreError, ValueError) as exc:
            _fail(str(exc))
        click.echo(json.dumps(result))
        return
    client = _api(api)
    try:
        response = client._http.post("/api/v1/admin/reprice", params={"since": since} if since else None,
                                     timeout=3600)
    except Exception:
        _fail(f"cannot reach the collector at {client.base_url}; start it, or pass --store to reprice directly")
    if response.status_code != 200:
        _fail(f"collector answered {response.status_code}: {response.text[:200]}")
    click.echo(json.dumps(response.json()))


@main.command()
@click.option("--store", help="Store URL [env TIERSCOPE_STORE].")
@click.option("--cluster", help="Print (with --apply, run) ON CLUSTER DDL for this ClickHouse cluster.")
@click.option("--database", default="default", show_default=True, help="Database for --cluster.")
@click.option("--apply", "apply_now", is_flag=True, help="With --cluster: run the DDL instead of printing it.")
def migrate(store: str | None, cluster: str | None, database: str, apply_now: bool) -> None:
    """Create or upgrade the store's schema (the collector also does this at start)."""
    from tierscope.collector.store.cluster import ClusterSchemaError, apply_cluster, cluster_statements
    from tierscope.collector.store.clickhouse import Store, StoreError

    try:
        if cluster and not apply_now:
            click.echo(";\n\n".join(cluster_statements(cluster, database)) + ";")
            return
        s = Store(_settings(store=store).store)
        try:
            applied = apply_cluster(s, cluster, database) if cluster else s.migrate()
        finally:
            s.close()
    except (ClusterSchemaError, StoreError) as exc:
        _fail(str(exc))
    click.echo("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))


@main.command()
@click.option("--format", "fmt", type=click.Choice(["json", "yaml"]), default="yaml", show_default=True)
@click.option("--window-days", type=int, default=30, show_default=True,
              help="Evidence window: the last N days, from the start of the hour N days ago.")
@click.option("--quality-target", type=float, default=0.95, show_default=True,
              help="Overall quality to keep, as a share of all-frontier.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--api", help="Collector URL [env TIERSCOPE_API].")
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


@main.group()
def alerts() -> None:
    """Paired cost + quality alerts (on-call)."""


@alerts.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--api", help="Collector URL [env TIERSCOPE_API].")
def alerts_list(fmt: str, api: str | None) -> None:
    """Rules with the state of both sides, and recent events."""
    body = _read(api, "alerts")
    if fmt == "json":
        click.echo(json.dumps(body, indent=2))
        return
    rows = [{**r, "cost": r["state"]["cost"], "quality": r["state"]["quality"],
             "scope": ",".join(f"{k}={r[k]}" for k in ("role", "tier", "model", "team") if r[k]) or "all"}
            for r in body["rules"]]
    _emit(rows, None, "table", ["rule_id", "name", "scope", "armed", "cost", "quality", "cost_ceiling_usd",
                                "quality_floor", "window_seconds"], body)
    if body["events"]:
        click.echo("")
        _emit(body["events"][:20], None, "table", ["at", "rule_id", "kind", "side", "observed", "threshold"], body)


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
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--api", help="Collector URL [env TIERSCOPE_API].")
def alerts_arm(fmt: str, api: str | None, cost_ceiling: str | None, cost_pct: float | None, **rule: Any) -> None:
    """Arm a paired rule: both a cost side and a quality side are required."""
    body = {**rule, "cost_ceiling_usd": cost_ceiling, "cost_pct_over_baseline": cost_pct,
            "webhooks": list(rule["webhooks"])}
    result = _post(api, "alerts/rules", json=body)
    click.echo(json.dumps(result, indent=2) if fmt == "json" else f"armed {result['armed']['rule_id']}")


@alerts.command("disarm")
@click.argument("rule_id")
@click.option("--api", help="Collector URL [env TIERSCOPE_API].")
def alerts_disarm(rule_id: str, api: str | None) -> None:
    """Disarm a rule (kept, with its history)."""
    _post(api, f"alerts/rules/{rule_id}/disarm")
    click.echo(f"disarmed {rule_id}")


@alerts.command("ack")
@click.argument("rule_id")
@click.option("--by", "who", default="", help="Who acknowledges.")
@click.option("--api", help="Collector URL [env TIERSCOPE_API].")
def alerts_ack(rule_id: str, who: str, api: str | None) -> None:
    """Acknowledge a rule's current alert."""
    _post(api, f"alerts/rules/{rule_id}/ack", params={"by": who})
    click.echo(f"acknowledged {rule_id}")


def _register() -> None:
    from tierscope.collector.interop.export import export_command
    from tierscope.collector.interop.otel_cli import import_otel_command
    from tierscope.collector.recommender.replay import replay_command

    main.add_command(replay_command, "replay")
    main.add_command(import_otel_command, "import-otel")
    main.add_command(export_command, "export")


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
