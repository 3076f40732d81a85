"""Monthly budgets on a real chdb store, evaluated by the alert runner with real webhooks to a local
HTTP receiver: each threshold is announced once per month (actual and forecast crossings), none
again after a restart or from a second collector racing the first; spend and forecast are exact."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal, localcontext
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from ledger import Span, insert, new_store, utc
from test_alerts import Receiver
from tierscope.collector.alerts.budget_runs import budget_status, budgets, claim, evaluate, save_budget
from tierscope.collector.alerts.budgets import Budget, Notice
from tierscope.collector.alerts.runner import AlertRunner, Notifier
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import BadParameter


@pytest.fixture
def hook() -> Iterator[str]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def rounds(path: Path, hook: str, at: list[tuple[str, list[Span]]], first: int = 0) -> list[dict]:
    """Open the store, and for each (now, new spans): add the spans, run the runner's budget round;
    then close it (a collector's life). Returns what the receiver got."""
    store = Store(f"chdb:{path}")
    store.migrate()
    runner = AlertRunner(store, notifier=Notifier(backoff=0.01))
    for i, (now, spans) in enumerate(at):
        insert(store, spans, first=first + 100 * i)
        runner.evaluate_budgets(utc(now))
    runner.notifier.drain()
    store.close()
    return list(Receiver.received)


def test_crossing_80_then_100_sends_exactly_two_webhooks_and_none_after_a_restart(tmp_path, hook):
    store = new_store(tmp_path / "s", [Span("2026-12-05T10:00", "40"), Span("2026-12-06T10:00", "500", team="core")])
    save_budget(store, "default", Budget("team", "search", Decimal(100), (80, 100), (hook,)))
    store.close()
    late = [Span("2026-12-31T19:00", "45"), Span("2026-12-31T19:30", None)]  # 85: late, so no forecast crossing
    got = rounds(tmp_path / "s", hook, [("2026-12-20T00:00", []), ("2026-12-31T20:00", late),
                                        ("2026-12-31T21:00", []), ("2026-12-31T22:00", [Span("2026-12-31T21:30", "15")]),
                                        ("2026-12-31T23:00", [Span("2026-12-31T22:30", "7")])])
    assert [(p["kind"], p["threshold"], p["budget"]["spent_usd"]) for p in got] == [
        ("budget_actual", 80, "85"), ("budget_actual", 100, "100")]
    assert got[0]["text"] == "Budget team search 2026-12: spend $85.00 crossed 80% of $100 (85.0%)"
    assert got[0]["budget"]["unpriced_spans"] == 1  # beside the spend, not in it
    again = rounds(tmp_path / "s", hook, [("2026-12-31T23:30", [Span("2026-12-31T23:10", "1")])], first=1000)
    assert len(again) == 2  # the restarted collector owes nothing


def test_the_forecast_crossing_is_announced_once(tmp_path, hook):
    store = new_store(tmp_path / "s", [Span("2026-12-02T10:00", "30", team="core", feature="chat")])
    save_budget(store, "default", Budget("total", "", Decimal(100), (90,), (hook,)))
    store.close()
    got = rounds(tmp_path / "s", hook, [("2026-12-03T00:00", []),  # 30 in 2 days: forecast 465
                                        ("2026-12-04T00:00", [Span("2026-12-03T10:00", "5")]),
                                        ("2026-12-05T00:00", [])])
    got += rounds(tmp_path / "s", hook, [("2026-12-06T00:00", [])], first=1000)[len(got):]
    assert [(p["kind"], p["threshold"]) for p in got] == [("budget_forecast", 100)]
    assert got[0]["budget"]["forecast_usd"] == "465"
    assert got[0]["text"] == "Budget all spend 2026-12: forecast $465.00 reaches the $100 budget (spent $30.00, 30.0%)"


def test_two_collectors_racing_send_each_notice_once(tmp_path, hook):
    store = new_store(tmp_path / "s", [Span("2026-12-05T10:00", "90", feature="search-box")])
    save_budget(store, "default", Budget("feature", "search-box", Decimal(100), (50, 80), (hook,)))
    notice = Notice("actual", 50, Decimal(90))
    budget = Budget("feature", "search-box", Decimal(100))
    assert claim(store, "default", budget, "2026-11", notice, "x") is not None
    assert claim(store, "default", budget, "2026-11", notice, "x") is None  # already claimed: not sent again
    senders = [Notifier(backoff=0.01), Notifier(backoff=0.01)]
    start = threading.Barrier(2)
    sent: list[list[dict]] = [[], []]

    def collector(i: int) -> None:
        start.wait()
        sent[i] = evaluate(store, senders[i], utc("2026-12-31T23:00"))

    threads = [threading.Thread(target=collector, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in senders:
        s.drain()
    assert sorted((p["threshold"], p["kind"]) for p in sent[0] + sent[1]) == [(50, "budget_actual"), (80, "budget_actual")]
    assert sorted(p["threshold"] for p in Receiver.received) == [50, 80]
    store.close()


def test_spend_forecast_and_interval_are_exact(tmp_path):
    spans = [Span("2026-12-01T10:00", "10"), Span("2026-12-02T10:00", "20"), Span("2026-12-03T10:00", "30"),
             Span("2026-12-03T11:00", None), Span("2026-12-02T12:00", "1000", role="critic")]
    store = new_store(tmp_path / "s", spans)
    status = budget_status(store, "default", Budget("role", "worker", Decimal(1000)), now=utc("2026-12-04T00:00"))
    assert (status["month"], status["spent_usd"], status["unpriced_spans"]) == ("2026-12", "60", 1)
    assert status["forecast_usd"] == "620"  # 60 in 3 of 31 days
    with localcontext() as ctx:  # daily 10, 20, 30: mean 20, sd 10; 28 days to go
        ctx.prec = 40
        half = Decimal("1.645") * 10 * (Decimal(28) + Decimal(28 * 28) / 3).sqrt()
    assert Decimal(status["forecast_low_usd"]) == (620 - half).quantize(Decimal("0.000001"))
    assert Decimal(status["forecast_high_usd"]) == (620 + half).quantize(Decimal("0.000001"))
    paris = budget_status(store, "default", Budget("role", "worker", Decimal(1000), tz="Europe/Paris"),
                          now=utc("2026-12-02T00:00"))
    assert (paris["spent_usd"], paris["forecast_low_usd"]) == ("10", None)  # one complete day: no interval
    closed = budget_status(store, "default", Budget("role", "worker", Decimal(1000)), "2026-12", utc("2027-01-02T00:00"))
    assert closed["forecast_usd"] == closed["spent_usd"] == "60" and closed["complete"]
    store.close()


@pytest.mark.parametrize(("body", "error"), [
    ({"kind": "tier", "monthly_usd": "5"}, "kind must be one of total, team, role, feature, service"),
    ({"kind": "team", "monthly_usd": "5"}, "a team budget needs the team's name"),
    ({"kind": "total", "monthly_usd": "lots"}, "monthly_usd must be a decimal number"),
    ({"kind": "total", "monthly_usd": "-1"}, "monthly_usd must be more than 0"),
    ({"kind": "total", "monthly_usd": "5", "notify_at": "80,ninety"}, "notify_at must be whole percentages"),
    ({"kind": "total", "monthly_usd": "5", "webhooks": ["ftp://x"]}, "webhooks must be http"),
    ({"kind": "total", "monthly_usd": "5", "tz": "Mars/Base"}, "tz must be an IANA time zone"),
])
def test_a_bad_budget_is_one_clear_error(body, error):
    with pytest.raises(BadParameter, match=error):
        Budget.from_dict(body)


def test_budgets_and_their_spend_are_per_tenant(tmp_path, hook):
    store = new_store(tmp_path / "s", [Span("2026-12-05T10:00", "90"), Span("2026-12-05T11:00", "5", tenant="acme")])
    save_budget(store, "acme", Budget("team", "search", Decimal(10), (50,), (hook,)))
    assert budgets(store, "default") == [] and [b.budget_id for b in budgets(store, "acme")] == ["team:search"]
    sent = evaluate(store, Notifier(backoff=0.01), utc("2026-12-31T23:00"))
    assert [(p["tenant"], p["threshold"], p["budget"]["spent_usd"]) for p in sent] == [("acme", 50, "5")]
    store.close()
