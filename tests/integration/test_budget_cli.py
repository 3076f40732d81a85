"""Budgets through a real collector: `tierscope budget set|list|rm` over POST/GET/DELETE
/api/v1/budgets, per tenant, with a pinned "now"; one clear error for bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from ledger import Span, insert
from support import running_collector
from tierscope import clock
from tierscope.cli import main
from tierscope.collector.server.background import BackgroundCollector

SPANS = [Span("2026-12-01T10:00", "500"), Span("2026-12-02T10:00", "700", team="core"),
         Span("2026-12-02T11:00", None), Span("2026-11-20T10:00", "9999")]


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[BackgroundCollector]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(clock.ENV, "2026-12-03T00:00:00Z")
        with running_collector(tmp_path_factory.mktemp("budgets") / "store", alert_interval_s=0) as running:
            insert(running.collector.store, SPANS)
            yield running


def cli(collector: BackgroundCollector, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--api", collector.url])
    assert result.exit_code == 0, result.output
    return result.output


def test_set_list_and_remove_budgets(collector):
    assert "budget team:search: $2000 a month, notify at 80,90,100%" in cli(
        collector, "budget", "set", "--team", "search", "--monthly-usd", "2000", "--notify-at", "80,90,100",
        "--webhook", "http://127.0.0.1:9/hook")
    cli(collector, "budget", "set", "--monthly-usd", "1000")  # everything: overlaps the team's
    body = json.loads(cli(collector, "budget", "list", "--format", "json"))
    rows = {b["budget_id"]: b for b in body["budgets"]}
    assert set(rows) == {"total", "team:search"}
    search, total = rows["team:search"], rows["total"]
    assert (search["spent_usd"], search["unpriced_spans"], search["forecast_usd"]) == ("500", 1, "7750")  # 500 x 31/2
    assert (total["spent_usd"], total["forecast_usd"], total["month"]) == ("1200", "18600", "2026-12")
    assert search["webhooks"] == ["http://127.0.0.1:9/hook"] and search["notify_at"] == [80, 90, 100]
    table = cli(collector, "budget", "list")
    assert "team:search" in table and "7750" in table
    assert "removed team:search" in cli(collector, "budget", "rm", "team:search")
    november = json.loads(cli(collector, "budget", "list", "--month", "2026-11", "--format", "json"))
    assert [(b["budget_id"], b["spent_usd"], b["complete"]) for b in november["budgets"]] == [("total", "9999", True)]


def test_bad_input_is_one_clear_error(collector):
    result = CliRunner().invoke(main, ["budget", "set", "--team", "a", "--role", "b", "--monthly-usd", "1",
                                       "--api", collector.url])
    assert result.exit_code == 1 and "at most one of --team, --role" in result.output
    result = CliRunner().invoke(main, ["budget", "set", "--monthly-usd", "much", "--api", collector.url])
    assert result.exit_code == 1 and "collector answered 400: monthly_usd must be a decimal number" in result.output
    result = CliRunner().invoke(main, ["budget", "rm", "team:nobody", "--api", collector.url])
    assert result.exit_code == 1 and "no budget 'team:nobody'" in result.output
    answer = httpx.post(f"{collector.url}/api/v1/budgets", content=b"{not json")
    assert (answer.status_code, answer.json()) == (400, {"error": "body must be a JSON budget"})
    assert httpx.get(f"{collector.url}/api/v1/budgets", params={"month": "Dec"}).status_code == 400
