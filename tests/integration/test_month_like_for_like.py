"""Month close compares like for like: the month so far against the previous month up to the same
day-of-month and time (time-zone aware, clipped to the previous month's end), the full previous
month beside it; exact Decimal, at injected "now"s, through the function, the API and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from click.testing import CliRunner

from ledger import Span, insert, utc
from support import running_collector
from tierscope import clock
from tierscope.cli import main
from tierscope.client import ApiClient
from tierscope.collector.read.months import month_close, previous_to_date
from tierscope.collector.server.background import BackgroundCollector

PARIS = "Europe/Paris"
# Powers of two in dollars, so every total says exactly which spans it holds.
SPANS = [
    Span("2026-10-31T23:30", "256"),  # October in UTC, 1 November 00:30 in Paris
    Span("2026-11-01T06:00", "1"),
    Span("2026-11-02T09:00", "2", team="core"),
    Span("2026-11-02T10:30", "4"),  # after 10:00 on day 2 (UTC), after 11:00 in Paris
    Span("2026-11-15T12:00", "8"),
    Span("2026-11-30T23:30", "16"),  # 1 December 00:30 in Paris
    Span("2026-12-01T10:00", "32"),
    Span("2026-12-02T08:00", "64", team="core"),
    Span("2026-12-02T09:00", None),  # unpriced: counted, never $0
]


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[BackgroundCollector]:
    with running_collector(tmp_path_factory.mktemp("lfl") / "store", alert_interval_s=0) as running:
        insert(running.collector.store, SPANS)
        yield running


def close(collector: BackgroundCollector, month: str, tz: str, now: str, by: list[str] | None = None) -> dict:
    return month_close(collector.collector.store, "default", month, by or ["team"], tz, {}, now=utc(now))


def totals(body: dict) -> tuple[Decimal, ...]:
    t = body["total"]
    return tuple(Decimal(t[k]) for k in ("cost_usd", "previous_to_date_cost_usd", "change_to_date_usd",
                                          "previous_cost_usd", "change_usd"))


def test_day_two_compares_with_days_one_and_two_of_the_previous_month(collector):
    body = close(collector, "2026-12", "UTC", "2026-12-02T10:00")
    assert body["previous_to_date"] == {"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-02T10:00:00+00:00"}
    assert totals(body) == (Decimal(96), Decimal(3), Decimal(93), Decimal(31), Decimal(65))
    rows = {r["team"]: (Decimal(r["previous_to_date_cost_usd"]), Decimal(r["previous_cost_usd"])) for r in body["rows"]}
    assert rows == {"core": (Decimal(2), Decimal(2)), "search": (Decimal(1), Decimal(29))}
    assert body["total"]["unpriced_spans"] == 1


def test_the_comparison_follows_the_time_zone(collector):
    body = close(collector, "2026-12", PARIS, "2026-12-02T10:00")  # 11:00 in Paris
    assert body["previous_to_date"] == {"since": "2026-10-31T23:00:00+00:00", "until": "2026-11-02T10:00:00+00:00"}
    assert totals(body) == (Decimal(112), Decimal(259), Decimal(-147), Decimal(271), Decimal(-159))


def test_a_day_the_previous_month_lacks_compares_with_all_of_it(collector):
    assert totals(close(collector, "2026-12", "UTC", "2026-12-31T12:00"))[1] == Decimal(31)  # November: 30 days
    assert totals(close(collector, "2026-12", "UTC", "2026-12-30T12:00"))[1] == Decimal(15)  # to 30 Nov 12:00
    start, cut = previous_to_date("2027-03", "UTC", utc("2027-03-29T08:00"))
    assert (start, cut) == (utc("2027-02-01T00:00"), utc("2027-03-01T00:00"))  # February has 28 days


def test_a_closed_month_compares_with_the_whole_previous_month(collector):
    body = close(collector, "2026-11", "UTC", "2026-12-02T10:00")
    assert body["complete"] and totals(body) == (Decimal(31), Decimal(256), Decimal(-225), Decimal(256), Decimal(-225))
    assert previous_to_date("2026-12", "UTC", utc("2026-11-20T00:00"))[1] == utc("2026-11-01T00:00")  # not begun


def test_the_api_and_the_cli_show_both_at_a_pinned_now(collector, monkeypatch):
    monkeypatch.setenv(clock.ENV, "2026-12-02T10:00:00Z")
    api = ApiClient(collector.url)
    body = api.get("month", month="2026-12", by="team")
    api.close()
    assert (body["total"]["previous_to_date_cost_usd"], body["total"]["previous_cost_usd"]) == ("3", "31")
    result = CliRunner().invoke(main, ["month", "2026-12", "--by", "team", "--api", collector.url])
    assert result.exit_code == 0, result.output
    assert "vs 2026-11 to the same day and time (2026-11-01T00:00:00+00:00 to 2026-11-02T10:00:00+00:00): $93" \
        in result.output
    assert "2026-11 in full $31" in result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert ["TOTAL", "3", "0", "0", "96", "3", "93", "31", "1"] in lines
