"""The shared sidebar filters (time range, team, service, environment, role), read by every page.

The sidebar is drawn once per run by the app, before the page; pages read the result with
`current()`. Relative ranges are rounded down to the hour so cached answers are reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from tierscope import clock
from tierscope.dashboard.data import fetch
from tierscope.dashboard.transforms import label, md_code

RANGES: dict[str, timedelta | None] = {
    "Last 24 hours": timedelta(days=1), "Last 7 days": timedelta(days=7), "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90), "Last 365 days": timedelta(days=365), "All time": None,
}
CUSTOM = "Custom dates"
DEFAULT_RANGE = "Last 30 days"
_STATE = "tierscope_scope"


@dataclass(frozen=True)
class Scope:
    since: str = ""
    until: str = ""
    role: tuple[str, ...] = ()
    team: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    environment: tuple[str, ...] = ()
    range_label: str = "All time"

    def params(self) -> dict[str, Any]:
        """The read API's shared scope parameters."""
        return {"since": self.since, "until": self.until, "role": list(self.role), "team": list(self.team),
                "service": list(self.service), "environment": list(self.environment)}

    def describe(self) -> str:
        """The scope in words, as Markdown (names as code spans, so they show exactly as typed)."""
        parts = [self.range_label.lower()]
        for name, values in (("role", self.role), ("team", self.team), ("service", self.service),
                             ("environment", self.environment)):
            if values:
                parts.append(f"{name} {', '.join(md_code(label(v)) for v in values)}")
        return "; ".join(parts)


def time_range(choice: str, custom: tuple[date, ...] = (), now: datetime | None = None) -> tuple[str, str]:
    """(since, until) ISO strings for a range choice; '' means open-ended."""
    if choice == CUSTOM and len(custom) == 2:
        start = datetime.combine(custom[0], time(), UTC)
        end = datetime.combine(custom[1] + timedelta(days=1), time(), UTC)
        return start.isoformat(), end.isoformat()
    span = RANGES.get(choice)
    if span is None:
        return "", ""
    hour = (now or clock.now()).replace(minute=0, second=0, microsecond=0)
    return (hour - span).isoformat(), ""


def sidebar() -> Scope | None:
    """Draw the filters and remember the chosen scope for the page; None when the collector has no
    spans at all (the caller shows how to send some). The range's filter values answer that
    question too, so the usual run asks the collector once; all time is asked only when the range
    is empty."""
    bar = st.sidebar
    bar.header("Filters")
    choice = bar.selectbox("Time range", [*RANGES, CUSTOM], index=list(RANGES).index(DEFAULT_RANGE), key="f_range")
    custom: tuple[date, ...] = ()
    if choice == CUSTOM:
        today = clock.now().date()
        custom = tuple(bar.date_input("From – to (UTC)", (today - timedelta(days=7), today), key="f_dates"))
    since, until = time_range(choice, custom)
    options = fetch("filters", "filters", since=since, until=until)
    if not options["spans"]:
        anywhere = fetch("filters", "filters") if since or until else options
        if not anywhere["spans"]:
            return None
    picked = {}
    for name, plural in (("team", "teams"), ("service", "services"), ("environment", "environments"),
                         ("role", "roles")):
        key = f"f_{name}"
        choices = sorted(set(options.get(plural) or []) | set(st.session_state.get(key, [])))
        picked[name] = tuple(bar.multiselect(name.capitalize(), choices, key=key, format_func=label,
                                             placeholder=f"All {plural}"))
    range_label = choice if choice != CUSTOM else f"{custom[0]} to {custom[-1]}" if custom else choice
    scope = Scope(since=since, until=until, range_label=range_label, **picked)
    st.session_state[_STATE] = scope
    return scope


def current() -> Scope:
    return st.session_state.get(_STATE, Scope())
