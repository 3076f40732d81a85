"""The one clock every "now" in tierscope reads: the current UTC time, unless `TIERSCOPE_NOW` pins it.

Pinning (`TIERSCOPE_NOW=2026-11-20T12:00:00Z`) makes "this month", "the last 24 hours" and run-rate
forecasts reproducible: tests, demos and screenshots use it. It moves business time only (month
close, time ranges, alert windows, forecasts); the store's own version stamps and ingest timestamps
stay on the real clock. Functions that need the time take a `now` argument and call `now()` only
when none is given, so pure code never reads the clock.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

ENV = "TIERSCOPE_NOW"


def now() -> datetime:
    """The current time in UTC, or the instant `TIERSCOPE_NOW` pins (ISO 8601, offset or Z)."""
    pinned = os.environ.get(ENV, "").strip()
    if not pinned:
        return datetime.now(UTC)
    return parse_instant(pinned)


def parse_instant(text: str) -> datetime:
    """`text` (ISO 8601; `Z` or an offset, none meaning UTC) as an aware UTC datetime. A malformed
    value raises one ValueError naming TIERSCOPE_NOW and quoting the value, so a bad pin fails loudly
    at the first "now" instead of silently falling back to the real time."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{ENV} must be an ISO 8601 instant such as 2026-11-20T12:00:00Z, got {text[:40]!r}") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
