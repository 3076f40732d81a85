"""Month bounds, the run-rate forecast, the dashboard's time ranges and month list, and the rollup's
hour plan at fixed "now"s where calendars bite: the last minute of a month (UTC and Paris), New
Year (UTC, and 00:30 in Paris while UTC is still in December), 29 February 2028, and both Paris DST
changes. Pure: no engine, no clock read (every `now` is given)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tierscope.collector.read.months import month_bounds, previous_month, run_rate
from tierscope.collector.store import rollup
from tierscope.dashboard.filters import time_range
from tierscope.dashboard.month_frames import month_options

PARIS = "Europe/Paris"
H = timedelta(hours=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


LAST_MINUTE = utc("2026-11-30T23:59")
PARIS_LAST_MINUTE = utc("2026-11-30T22:59")  # 23:59 in Paris
NEW_YEAR = utc("2027-01-01T00:00")
PARIS_NEW_YEAR = utc("2026-12-31T23:30")  # 00:30 on 1 January in Paris
LEAP_DAY = utc("2028-02-29T12:00")
SPRING_FORWARD = utc("2027-03-28T01:00")  # Paris 02:00 CET -> 03:00 CEST
FALL_BACK = utc("2026-10-25T01:00")  # Paris 03:00 CEST -> 02:00 CET


@pytest.mark.parametrize(("month", "tz", "since", "until", "hours"), [
    ("2026-11", "UTC", "2026-11-01T00:00", "2026-12-01T00:00", 720),
    ("2026-11", PARIS, "2026-10-31T23:00", "2026-11-30T23:00", 720),
    ("2026-12", "UTC", "2026-12-01T00:00", "2027-01-01T00:00", 744),
    ("2027-01", PARIS, "2026-12-31T23:00", "2027-01-31T23:00", 744),
    ("2028-02", "UTC", "2028-02-01T00:00", "2028-03-01T00:00", 696),  # 29 days
    ("2028-02", PARIS, "2028-01-31T23:00", "2028-02-29T23:00", 696),
    ("2027-03", PARIS, "2027-02-28T23:00", "2027-03-31T22:00", 743),  # an hour short
    ("2026-10", PARIS, "2026-09-30T22:00", "2026-10-31T23:00", 745),  # an hour long
])
def test_month_bounds_at_the_edges(month, tz, since, until, hours):
    start, end = month_bounds(month, tz)
    assert (start, end) == (utc(since), utc(until))
    assert end - start == hours * H


def test_previous_month_across_new_year():
    assert [previous_month(m) for m in ("2027-01", "2028-03", "2026-12")] == ["2026-12", "2028-02", "2026-11"]


@pytest.mark.parametrize(("now", "tz", "current"), [
    (LAST_MINUTE, "UTC", "2026-11"), (LAST_MINUTE, PARIS, "2026-12"),
    (PARIS_LAST_MINUTE, PARIS, "2026-11"), (PARIS_LAST_MINUTE + timedelta(minutes=1), PARIS, "2026-12"),
    (NEW_YEAR - timedelta(microseconds=1), "UTC", "2026-12"), (NEW_YEAR, "UTC", "2027-01"),
    (PARIS_NEW_YEAR, "UTC", "2026-12"), (PARIS_NEW_YEAR, PARIS, "2027-01"),
    (LEAP_DAY, "UTC", "2028-02"), (SPRING_FORWARD, PARIS, "2027-03"), (FALL_BACK, PARIS, "2026-10"),
])
def test_the_current_month_is_the_one_now_falls_in(now, tz, current):
    assert month_options(None, None, tz, now) == [current]
    since, until = month_bounds(current, tz)
    assert since <= now < until


def test_month_options_run_from_the_first_span_to_the_later_of_now_and_the_last_span():
    first = "2026-11-15T10:00:00+00:00"
    assert month_options(first, "2026-12-31T22:00:00+00:00", "UTC", PARIS_NEW_YEAR) == ["2026-12", "2026-11"]
    assert month_options(first, "2026-12-31T22:00:00+00:00", PARIS, PARIS_NEW_YEAR) == ["2027-01", "2026-12",
                                                                                       "2026-11"]
    # A span stamped after `now` (a clock ahead of ours) still gets its month listed.
    assert month_options(first, "2027-02-01T00:00:00+00:00", "UTC", NEW_YEAR) == ["2027-02", "2027-01", "2026-12",
                                                                                 "2026-11"]
    assert month_options("2027-12-31T23:30:00+00:00", None, PARIS, LEAP_DAY) == ["2028-02", "2028-01"]


@pytest.mark.parametrize(("month", "tz", "now", "spend", "forecast"), [
    ("2026-11", "UTC", LAST_MINUTE, "12", "12.000278"),  # 12 x 43200 / 43199 minutes
    ("2026-11", PARIS, PARIS_LAST_MINUTE, "4", "4.000093"),  # 4 x 43200 / 43199
    ("2026-12", "UTC", PARIS_NEW_YEAR, "16", "16.010760"),  # 16 x 1488 / 1487 half hours
    ("2027-01", PARIS, PARIS_NEW_YEAR, "16", "23808.000000"),  # 16 x 744 h / 0.5 h
    ("2027-01", "UTC", NEW_YEAR + timedelta(seconds=30), "32", "2856960.000000"),  # 32 x 2678400 s / 30 s
    ("2028-02", "UTC", LEAP_DAY, "128", "130.245614"),  # 128 x 29 d / 28.5 d
    ("2027-03", PARIS, SPRING_FORWARD, "650", "743.000000"),  # 650 x 743 h / 650 h
    ("2027-03", PARIS, SPRING_FORWARD, "64", "73.156923"),  # 64 x 743 / 650
    ("2027-03", "UTC", SPRING_FORWARD, "649", "744.000000"),  # 649 x 744 h / 649 h
    ("2026-10", PARIS, FALL_BACK, "579", "745.000000"),  # 579 x 745 h / 579 h
    ("2026-10", PARIS, FALL_BACK, "1", "1.286701"),  # 745 / 579
    ("2026-10", "UTC", FALL_BACK, "1", "1.289428"),  # 744 / 577
])
def test_the_run_rate_forecast_is_spend_times_month_length_over_elapsed(month, tz, now, spend, forecast):
    since, until = month_bounds(month, tz)
    got = run_rate(Decimal(spend), since, until, now)
    assert isinstance(got, Decimal) and str(got) == forecast


@pytest.mark.parametrize(("month", "tz", "now"), [
    ("2026-12", "UTC", NEW_YEAR),  # the instant it ends: closed, the spend is final
    ("2027-01", "UTC", NEW_YEAR),  # the instant it starts: nothing elapsed, no rate
    ("2026-12", PARIS, PARIS_NEW_YEAR),  # ended half an hour ago in Paris
    ("2026-11", "UTC", LAST_MINUTE + timedelta(minutes=1)),
    ("2028-03", "UTC", LEAP_DAY),  # not begun
])
def test_outside_an_open_month_the_forecast_is_the_spend(month, tz, now):
    since, until = month_bounds(month, tz)
    assert run_rate(Decimal("7.5"), since, until, now) == Decimal("7.5")


def test_the_forecast_counts_microseconds_exactly():
    since, until = month_bounds("2028-02", "UTC")
    # A microsecond in, a micro-dollar of spend forecasts the month's length in microseconds.
    assert run_rate(Decimal("0.000001"), since, until, since + timedelta(microseconds=1)) == Decimal("2505600")
    assert run_rate(Decimal("0.000001"), since, until, since + timedelta(microseconds=1)) == Decimal(
        (until - since) // timedelta(microseconds=1)) / 1_000_000


@pytest.mark.parametrize(("choice", "now", "since"), [
    ("Last 24 hours", LAST_MINUTE, "2026-11-29T23:00:00+00:00"),
    ("Last 24 hours", NEW_YEAR, "2026-12-31T00:00:00+00:00"),
    ("Last 7 days", PARIS_NEW_YEAR, "2026-12-24T23:00:00+00:00"),
    ("Last 30 days", NEW_YEAR, "2026-12-02T00:00:00+00:00"),
    ("Last 30 days", LEAP_DAY, "2028-01-30T12:00:00+00:00"),
    ("Last 90 days", LEAP_DAY, "2027-12-01T12:00:00+00:00"),
    ("Last 365 days", LEAP_DAY, "2027-03-01T12:00:00+00:00"),  # 2028 is a leap year: not 29 Feb 2027
    ("Last 24 hours", SPRING_FORWARD + timedelta(minutes=59, seconds=59), "2027-03-27T01:00:00+00:00"),
    ("Last 24 hours", FALL_BACK, "2026-10-24T01:00:00+00:00"),  # UTC: 24 hours, whatever Paris does
])
def test_relative_time_ranges_start_on_the_hour_and_stay_open(choice, now, since):
    assert time_range(choice, now=now) == (since, "")


def test_all_time_and_custom_dates_do_not_depend_on_now():
    assert time_range("All time", now=LAST_MINUTE) == ("", "")
    assert time_range("Custom dates", (date(2028, 2, 28), date(2028, 2, 29)), now=NEW_YEAR) == (
        "2028-02-28T00:00:00+00:00", "2028-03-01T00:00:00+00:00")
    assert time_range("Custom dates", (date(2026, 12, 31), date(2026, 12, 31)), now=LEAP_DAY) == (
        "2026-12-31T00:00:00+00:00", "2027-01-01T00:00:00+00:00")


@pytest.mark.parametrize(("now", "open_hour"), [
    (LAST_MINUTE, "2026-11-30T23:00"), (PARIS_NEW_YEAR, "2026-12-31T23:00"),
    (LEAP_DAY + timedelta(minutes=1), "2028-02-29T12:00"), (SPRING_FORWARD + timedelta(seconds=1), "2027-03-28T01:00"),
])
def test_a_range_ending_now_reads_the_open_hour_raw(now, open_hour):
    """The hour `now` is in has not ended: the plan takes it from v_spans, the whole hours before from the rollup."""
    since = now - timedelta(days=1)
    p = rollup.plan(since, now, ())
    assert (p.h0, p.h1) == (rollup.ceil_hour(since), utc(open_hour))
    assert p.raw == ((since, rollup.ceil_hour(since)), (utc(open_hour), now))


def test_at_new_year_midnight_there_is_no_open_hour_yet():
    p = rollup.plan(NEW_YEAR - timedelta(days=31), NEW_YEAR, [utc("2026-12-31T23:00")])
    assert (p.h0, p.h1, p.dirty) == (utc("2026-12-01T00:00"), NEW_YEAR, (utc("2026-12-31T23:00"),))
    assert p.raw == ((utc("2026-12-31T23:00"), NEW_YEAR),)  # only the changed hour is raw


@pytest.mark.parametrize(("day", "hours"), [("2027-03-28", 23), ("2026-10-25", 25), ("2028-02-29", 24)])
def test_a_paris_day_is_whole_utc_hours_even_on_a_dst_change(day, hours):
    since, until = month_bounds(day[:7], PARIS)  # the month's bounds, for the zone
    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(PARIS)).astimezone(UTC)
    end = (datetime.fromisoformat(day) + timedelta(days=1)).replace(tzinfo=ZoneInfo(PARIS)).astimezone(UTC)
    assert since <= start < end <= until and end - start == hours * H
    p = rollup.plan(start, end, ())
    assert (p.h0, p.h1, p.raw) == (start, end, ())  # all from the rollup
    assert rollup.hour_aligned(PARIS, (start, end), now=utc(day + "T12:00"))


@pytest.mark.parametrize(("tz", "now", "aligned"), [
    (PARIS, FALL_BACK, True), (PARIS, SPRING_FORWARD, True), ("UTC", LEAP_DAY, True),
    ("Asia/Kolkata", LEAP_DAY, False),  # +05:30
    ("Australia/Lord_Howe", NEW_YEAR, False),  # +11 in summer, +10:30 in winter
    ("Asia/Pyongyang", utc("2016-06-01T00:00"), False), ("Asia/Pyongyang", LEAP_DAY, True),  # +08:30 in 2015-18
])
def test_hour_aligned_asks_the_zone_in_nows_year(tz, now, aligned):
    assert rollup.hour_aligned(tz, (), now=now) is aligned


def test_floor_and_ceil_hour_at_the_edges():
    assert rollup.floor_hour(NEW_YEAR - timedelta(microseconds=1)) == utc("2026-12-31T23:00")
    assert rollup.ceil_hour(NEW_YEAR - timedelta(microseconds=1)) == NEW_YEAR
    assert rollup.ceil_hour(NEW_YEAR) == NEW_YEAR
    paris_half = datetime.fromisoformat("2027-01-01T00:30:00+01:00")
    assert rollup.floor_hour(paris_half) == utc("2026-12-31T23:00")
    assert rollup.ceil_hour(LEAP_DAY + timedelta(seconds=1)) == utc("2028-02-29T13:00")
