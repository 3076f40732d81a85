"""tierscope.clock: the real UTC time unless TIERSCOPE_NOW pins it, and one clear error for a bad pin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tierscope import clock
from tierscope.collector.store import rollup
from tierscope.dashboard.filters import time_range


def test_unpinned_the_clock_is_the_real_utc_time(monkeypatch):
    monkeypatch.delenv(clock.ENV, raising=False)
    before = datetime.now(UTC)
    now = clock.now()
    after = datetime.now(UTC)
    assert before <= now <= after and now.utcoffset() == timedelta(0)


def test_an_empty_or_blank_pin_is_the_real_time(monkeypatch):
    monkeypatch.setenv(clock.ENV, "  ")
    before = datetime.now(UTC)
    assert before <= clock.now() <= datetime.now(UTC)


@pytest.mark.parametrize(("pinned", "expected"), [
    ("2026-11-30T23:59:00Z", datetime(2026, 11, 30, 23, 59, tzinfo=UTC)),
    ("2027-01-01T00:30:00+01:00", datetime(2026, 12, 31, 23, 30, tzinfo=UTC)),  # Paris: still 31 Dec in UTC
    ("2028-02-29T12:00:00.000123Z", datetime(2028, 2, 29, 12, 0, 0, 123, tzinfo=UTC)),
    ("2027-03-28T01:00:00", datetime(2027, 3, 28, 1, tzinfo=UTC)),  # no offset: read as UTC
    (" 2026-10-25T03:00:00+02:00 ", datetime(2026, 10, 25, 1, tzinfo=UTC)),
])
def test_tierscope_now_pins_the_clock_to_a_utc_instant(monkeypatch, pinned, expected):
    monkeypatch.setenv(clock.ENV, pinned)
    now = clock.now()
    assert now == expected and now.tzinfo is UTC
    assert clock.now() == now  # pinned: it does not move


def test_the_pin_moves_every_default_now(monkeypatch):
    """Code that takes `now` and is given none reads the pinned clock."""
    monkeypatch.setenv(clock.ENV, "2027-01-01T00:00:30Z")
    assert time_range("Last 7 days") == ("2026-12-25T00:00:00+00:00", "")
    # Pyongyang was UTC+08:30 from August 2015 to May 2018: whether its hours are UTC hours
    # depends on the year, and the year is the pinned clock's.
    assert rollup.hour_aligned("Asia/Pyongyang")
    monkeypatch.setenv(clock.ENV, "2016-06-01T00:00:00Z")
    assert not rollup.hour_aligned("Asia/Pyongyang")


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T00:00:00Z", "2026-11-31T00:00:00Z", "1764547200",
                                 "2026-11-30 25:00"])
def test_a_malformed_pin_raises_one_clear_error(monkeypatch, bad):
    monkeypatch.setenv(clock.ENV, bad)
    with pytest.raises(ValueError) as raised:
        clock.now()
    message = str(raised.value)
    assert message == (f"TIERSCOPE_NOW must be an ISO 8601 instant such as 2026-11-20T12:00:00Z, "
                       f"got {bad!r}")
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_long_malformed_pin_is_quoted_shortened():
    with pytest.raises(ValueError, match=r"got 'x{40}'$"):
        clock.parse_instant("x" * 500)


def test_parse_instant_keeps_the_instant_whatever_the_offset():
    paris = timezone(timedelta(hours=1))
    assert clock.parse_instant("2027-01-01T00:00:00+01:00") == datetime(2027, 1, 1, tzinfo=paris)
    assert clock.parse_instant("2027-01-01T00:00:00+01:00").tzinfo is UTC
