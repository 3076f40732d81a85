"""Month close and the rollup's hour logic on a real chdb store at fixed "now"s: the last minute of
November (UTC and Paris), New Year (UTC, and 00:30 in Paris), 29 February 2028 and both Paris DST
changes. One small store (nine spans, each a distinct power of two in dollars, so a total says
exactly which spans it holds); every `now` is given, none is read from the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from tierscope.collector.alerts.rules import AlertRule
from tierscope.collector.alerts.runner import ack, observe
from tierscope.collector.read.months import month_close
from tierscope.collector.store import rollup
from tierscope.collector.store.clickhouse import Store

PARIS = "Europe/Paris"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (start time, team, cost): what month each lands in is the point of the test.
SPANS = [
    ("2026-10-25T00:30", "core", "1"),  # before the Paris fall back (02:30 CEST)
    ("2026-10-25T01:30", "core", "2"),  # after it (02:30 CET)
    ("2026-11-30T22:58:59", "core", "4"),  # November everywhere (23:58:59 in Paris)
    ("2026-11-30T23:30", "search", "8"),  # November in UTC, December in Paris
    ("2026-12-31T23:15", "search", "16"),  # December in UTC, January in Paris
    ("2027-01-01T00:00", "core", "32"),  # January everywhere
    ("2027-03-28T00:30", "core", "64"),  # the night Paris springs forward
    ("2028-02-29T06:00", "search", "128"),  # the leap day
    ("2028-02-29T11:00", "search", None),  # unpriced, the leap day's last hour before noon
]
HOURS = sorted({rollup.floor_hour(utc(t)) for t, _, _ in SPANS})


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[Store]:
    s = Store(f"chdb:{tmp_path_factory.mktemp('clock') / 'store'}")
    s.migrate()
    n = len(SPANS)
    s.insert("llm_spans", pa.table({
        "tenant": ["default"] * n, "trace_id": [f"t{i}" for i in range(n)], "span_id": ["s"] * n,
        "start_time": pa.array([utc(t) for t, _, _ in SPANS], pa.timestamp("ns", tz="UTC")),
        "end_time": pa.array([utc(t) + timedelta(seconds=1) for t, _, _ in SPANS], pa.timestamp("ns", tz="UTC")),
        "team": [team for _, team, _ in SPANS], "role": ["worker"] * n, "model": ["m"] * n,
        "operation": ["chat"] * n,
        "cost_usd": pa.array([None if c is None else Decimal(c) for _, _, c in SPANS], pa.decimal128(38, 18)),
        "priced": [c is not None for _, _, c in SPANS],
        "ingested_at": pa.array([utc("2026-12-01T00:00")] * n, pa.timestamp("us", tz="UTC")),
    }))
    yield s
    s.close()


def close(store: Store, month: str, tz: str, now: datetime) -> dict:
    return month_close(store, "default", month, ["team"], tz, {}, now=now)


# (month, tz, now, total, previous month's total, forecast, complete)
CLOSES = [
    ("2026-11", "UTC", utc("2026-11-30T23:59"), "12", "3", "12.000278", False),  # 12 x 43200 / 43199 minutes
    ("2026-11", PARIS, utc("2026-11-30T22:59"), "4", "3", "4.000093", False),  # 23:59 in Paris
    ("2026-11", PARIS, utc("2026-11-30T23:00"), "4", "3", "4", True),  # 00:00 in Paris: closed
    ("2026-12", "UTC", utc("2026-12-31T23:30"), "16", "12", "16.010760", False),  # 00:30 in Paris
    ("2027-01", PARIS, utc("2026-12-31T23:30"), "48", "8", "71424.000000", False),  # 48 x 744 h / 0.5 h
    ("2026-12", "UTC", utc("2027-01-01T00:00"), "16", "12", "16", True),
    ("2027-01", "UTC", utc("2027-01-01T00:00"), "32", "16", "32", False),  # starts now: no rate yet
    ("2027-01", "UTC", utc("2027-01-01T00:00:30"), "32", "16", "2856960.000000", False),
    ("2028-02", "UTC", utc("2028-02-29T12:00"), "128", "0", "130.245614", False),  # 128 x 29 d / 28.5 d
    ("2028-02", PARIS, utc("2028-02-29T12:00"), "128", "0", "130.055474", False),  # 128 x 696 h / 685 h
    ("2027-03", PARIS, utc("2027-03-28T01:00"), "64", "0", "73.156923", False),  # 64 x 743 h / 650 h
    ("2026-10", PARIS, utc("2026-10-25T01:00"), "3", "0", "3.860104", False),  # 3 x 745 h / 579 h
    ("2026-10", "UTC", utc("2026-10-25T01:00"), "3", "0", "3.868284", False),  # 3 x 744 h / 577 h
]


@pytest.mark.parametrize(("month", "tz", "now", "total", "previous", "forecast", "complete"), CLOSES)
def test_month_close_at_a_fixed_now(store, month, tz, now, total, previous, forecast, complete):
    body = close(store, month, tz, now)
    assert Decimal(body["total"]["cost_usd"]) == Decimal(total)
    assert Decimal(body["total"]["previous_cost_usd"]) == Decimal(previous)
    assert Decimal(body["forecast_usd"]) == Decimal(forecast) and body["complete"] is complete
    assert sum(Decimal(r["cost_usd"]) for r in body["rows"]) == Decimal(total)


def test_the_leap_days_close_counts_its_unpriced_span(store):
    body = close(store, "2028-02", "UTC", utc("2028-02-29T12:00"))
    assert (body["total"]["spans"], body["total"]["unpriced_spans"], body["share_unpriced"]) == (2, 1, 0.5)
    assert (body["since"], body["until"]) == ("2028-02-01T00:00:00+00:00", "2028-03-01T00:00:00+00:00")


def test_the_rollup_seals_the_hours_that_ended_before_now_and_leaves_the_open_one(store):
    """refresh(now=...) recomputes the hours that ended SETTLE before `now`; the hour `now` is in,
    and every later one, stays dirty and is read raw. Month close is the same before and after."""
    later = utc("2028-03-01T00:00")
    utc_months = ["2026-10", "2026-11", "2026-12", "2027-01", "2027-03", "2028-02"]  # every span once
    before = {(m, tz, later): close(store, m, tz, later)
              for m, tz in [(m, "UTC") for m in utc_months] + [("2026-10", PARIS), ("2027-01", PARIS)]}
    assert sum(Decimal(before[m, "UTC", later]["total"]["cost_usd"]) for m in utc_months) == 255
    dirty = lambda: sorted(rollup.dirty_parts(store, "default", HOURS[0], HOURS[-1] + rollup.HOUR)[0])  # noqa: E731
    assert dirty() == HOURS

    assert rollup.refresh(store, now=utc("2026-11-30T23:59")) == 3  # the 23:00 hour is open
    assert dirty() == HOURS[3:] and HOURS[3] == utc("2026-11-30T23:00")
    assert rollup.refresh(store, now=utc("2027-01-01T00:00")) == 1  # 23:00 ended 00:00, settles by 00:01
    assert dirty() == [utc("2026-12-31T23:00"), *HOURS[5:]]
    assert rollup.refresh(store, now=utc("2027-01-01T00:00") + rollup.SETTLE) == 1
    assert dirty() == HOURS[5:] and HOURS[5] == utc("2027-01-01T00:00")
    plan = rollup.current_plan(store, {"tenant": "default", "since": utc("2026-12-01T00:00"),
                                       "until": utc("2027-01-31T23:00")})  # UTC December + Paris January
    assert (plan.h0, plan.h1, plan.dirty) == (utc("2026-12-01T00:00"), utc("2027-01-31T23:00"), (HOURS[5],))
    assert plan.raw == ((HOURS[5], HOURS[5] + rollup.UNIT),)  # its one span's unit has not ended; the rest is empty
    assert plan.units == tuple(HOURS[5] + k * rollup.UNIT for k in range(1, 12))

    assert rollup.refresh(store, now=utc("2028-02-29T12:00")) == 3  # the 11:00 hour has not settled
    assert dirty() == [utc("2028-02-29T11:00")]
    assert rollup.refresh(store, now=utc("2028-02-29T12:02")) == 1
    assert dirty() == [] and rollup.refresh(store, now=utc("2028-02-29T12:02")) == 0
    assert {key: close(store, *key) for key in before} == before


@pytest.mark.parametrize(("now", "spend", "baseline"), [
    (utc("2026-12-01T00:00"), "8", "4"),  # November's last hour; the week before it holds 22:58:59
    (utc("2027-01-01T00:00"), "16", "0"),  # the year's last hour; an empty week before it
    (utc("2027-01-01T00:00:00.000001"), "48", "0"),  # New Year's first instant joins the window
    (utc("2026-10-25T02:00"), "2", "1"),  # the hour after the Paris fall back, in UTC hours
])
def test_an_alert_window_is_the_hour_before_now(store, now, spend, baseline):
    rule = AlertRule.from_dict({"rule_id": "r", "cost_pct_over_baseline": 50, "quality_floor": 0.5,
                                "window_seconds": 3600, "baseline_seconds": 7 * 86400})
    seen = observe(store, "default", rule, now)
    assert (seen.cost_usd, seen.baseline_cost_usd) == (Decimal(spend), Decimal(baseline))


def test_an_ack_is_stamped_at_the_given_now(store):
    event = ack(store, "default", "r", "ops", now=utc("2028-02-29T23:59:59"))
    assert (event["at"], event["window_start"], event["window_end"]) == (utc("2028-02-29T23:59:59"),) * 3
    stored = store.rows("SELECT at FROM alert_events WHERE kind = 'acked'")
    assert [at.replace(tzinfo=UTC) for at, in stored] == [utc("2028-02-29T23:59:59")]
