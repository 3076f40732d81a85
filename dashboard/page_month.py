"""Month close (for finance): month x team x role x model with subtotals and a grand total that
reconcile exactly, month-over-month change, run-rate forecast, share unpriced, CSV and Parquet."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import streamlit as st

from tierscope import clock
from tierscope.dashboard import filters
from tierscope.dashboard.data import fetch, nothing_in_scope
from tierscope.dashboard.month_budgets import budgets_section
from tierscope.dashboard.month_reconcile import reconcile_section
from tierscope.dashboard.month_frames import month_csv, month_display, month_lines, month_options, month_parquet
from tierscope.dashboard.transforms import count_text, dec, money_text, share_text

ZONES = ["UTC", "Europe/Paris", "Europe/London", "Europe/Berlin", "America/New_York", "America/Chicago",
         "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo",
         "Australia/Sydney"]
SHADE = {"detail": "", "subtotal": "background-color: rgba(128, 128, 128, 0.15)",
         "total": "background-color: rgba(128, 128, 128, 0.3); font-weight: bold"}
scope = filters.current()
shared = {k: v for k, v in scope.params().items() if k not in ("since", "until")}  # the month sets the range

st.title("Month close")
st.caption("The sidebar's time range does not apply here: pick the month. Team, service, environment and "
           "role filters do.")
pick_zone, pick_month = st.columns(2)
tz = pick_zone.selectbox("Time zone (month boundaries)", ZONES, key="month_tz")
seen = fetch("filters", "months with data", **shared)
now = clock.now()
months = month_options(seen["first_span"], seen["last_span"], tz, now)
current = now.astimezone(ZoneInfo(tz)).strftime("%Y-%m")  # opens on the month now is in, not a later one
month = pick_month.selectbox("Month", months, index=months.index(current) if current in months else 0,
                             key="month_pick")
close = fetch("month", f"the {month} close", month=month, tz=tz, **shared)
total = close["total"]
if not total["spans"]:
    nothing_in_scope(f"spans in {month} ({tz})", scope.describe())
    st.stop()

a, b, c, d = st.columns(4)
a.metric("Total", money_text(total["cost_usd"]), help=f"Exact: ${total['cost_usd']}")
previous, full = dec(total["previous_to_date_cost_usd"]), dec(total["previous_cost_usd"])
change = dec(total["change_to_date_usd"])
compared = close["previous_to_date"]
b.metric("vs previous month", money_text(change), delta=(f"{change / previous:+.1%}" if previous else None),
         delta_color="inverse",
         help=f"Like for like: {close['previous_month']} up to the same day and time ({compared['since']} to "
              f"{compared['until']}): {money_text(previous)}. The whole of {close['previous_month']}: "
              f"{money_text(full)}.")
c.metric("Run-rate forecast" if not close["complete"] else "Closed at", money_text(close["forecast_usd"]),
         help="Spend so far scaled to the whole month" if not close["complete"] else "The month is over")
d.metric("Share unpriced", share_text(close["share_unpriced"]),
         help=f"{count_text(total['unpriced_spans'])} of {count_text(total['spans'])} calls have no known price")
st.caption(f"vs {close['previous_month']} to the same day and time: {money_text(previous)} · "
           f"{close['previous_month']} in full: {money_text(full)}")
if total["unpriced_spans"]:
    st.warning(f"{count_text(total['unpriced_spans'])} calls ({count_text(total['unpriced_tokens'])} tokens) "
               "are unpriced and not in these totals.", icon=":material/money_off:")

lines = month_lines(close)
table = month_display(lines, close["by"])
st.dataframe(table.style.apply(lambda row: [SHADE[lines[row.name]["row_type"]]] * len(row), axis=1),
             hide_index=True, height=min(800, 35 * (len(table) + 1) + 3))
name = f"tierscope-{month}-{tz.replace('/', '_')}"
csv_col, parquet_col, _ = st.columns([1, 1, 4])
csv_col.download_button("Download CSV", month_csv(lines, month, tz), f"{name}.csv", "text/csv",
                        on_click="ignore", key="month_csv", icon=":material/download:")
parquet_col.download_button("Download Parquet", month_parquet(lines, month, tz), f"{name}.parquet",
                            "application/vnd.apache.parquet", on_click="ignore", key="month_parquet",
                            icon=":material/download:")
st.caption(f"{close['since']} to {close['until']} (UTC instants). Money in exports is exact to the 18th decimal.")

budgets_section(month)
reconcile_section(month, tz)
