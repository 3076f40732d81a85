"""`tierscope policy status|publish|promote|rollback`: the routing-policy versions the collector serves
to routers (`Router(policy_url=.../api/v1/policy)`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import yaml

from tierscope.cli.app import _post, _read, api_option, format_option, main


@main.group()
def policy() -> None:
    """Publish routing policies to the collector, and watch, promote or roll back their canaries."""


@policy.command()
@format_option("table", "json")
@api_option
def status(fmt: str, api: str | None) -> None:
    """Versions (what produced each, why, when), the live one, the canary and its evidence."""
    body = _read(api, "policy/versions")
    if fmt == "json":
        click.echo(json.dumps(body, indent=2))
        return
    for action in body["actions"]:
        click.echo(f"just now: {action['action']} ({action['reason']})")
    click.echo(f"live: {body['live'] or '-'}   canary: {body['canary'] or '-'}")
    for v in body["versions"]:
        routes = ", ".join(f"{r}={m}" for r, m in sorted(v["routes"].items()))
        click.echo(f"{v['version']:>4} {v['status']:<11} {v['created_at'][:19]} {v['source']:<14} {routes}"
                   f"  # {v['reason'] or v['status_reason']}")
    for role, e in body["evidence"].items():
        click.echo(f"canary {role}: {e['model']} {e['state']}, {e['graded_calls_so_far']}/{e['graded_calls_needed']}"
                   f" graded, quality {_num(e['quality'])} (low {_num(e['quality_low'])}) vs floor {e['floor']}")


@policy.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--canary-share", default=0.1, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Share of each changed role's calls the new version gets until it is promoted.")
@click.option("--reason", default="", help="Why (kept with the version).")
@api_option
def publish(file: Path, canary_share: float, reason: str, api: str | None) -> None:
    """Publish FILE (a `tierscope recommend` YAML/JSON, or routes: {role: model}) as a new version."""
    try:
        document = yaml.safe_load(file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{file}: not YAML or JSON ({error})") from None
    body = _post(api, "policy", json={"document": document, "canary_share": canary_share,
                                      "reason": reason or f"published from {file.name}", "source": "cli"})
    v = body["published"]
    click.echo(f"published version {v['version']} ({v['status']}"
               + (f" on {v['canary_share']:.0%} of {', '.join(v['changed_roles'])}" if v["status"] == "canary" else "")
               + ")")


@policy.command()
@click.option("--reason", default="", help="Why (kept with the version).")
@api_option
def promote(reason: str, api: str | None) -> None:
    """Make the canary the live version."""
    v = _post(api, "policy/promote", json={"reason": reason})["promoted"]
    click.echo(f"version {v['version']} is live")


@policy.command()
@click.option("--reason", default="", help="Why (kept with the version).")
@api_option
def rollback(reason: str, api: str | None) -> None:
    """Roll back the canary, or else the live version (its parent's routes go live again)."""
    body = _post(api, "policy/rollback", json={"reason": reason})
    click.echo(f"version {body['rolled_back']} rolled back; live: {body['live']}")


@policy.command()
@click.option("--every", "every_s", type=click.FloatRange(min=60), default=None,
              help="Repeat every this many seconds (86400: nightly) until interrupted [once].")
@click.option("--canary-share", default=0.1, show_default=True, type=click.FloatRange(0, 1, min_open=True))
@api_option
def schedule(every_s: float | None, canary_share: float, api: str | None) -> None:
    """Re-recommend and publish as a canary only when the change clears the guards (known routes,
    chance of meeting the target >= 80%, no canary running); says why not otherwise."""
    while True:
        body = _post(api, "policy/recommendation", json={"canary_share": canary_share})
        if body["published"]:
            v = body["published"]
            click.echo(f"published version {v['version']} ({v['status']}): {v['reason']}")
        else:
            click.echo(f"not published: {body['why']}")
        if every_s is None:
            return
        time.sleep(every_s)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"
