"""Quality: mean quality by role and tier, overall and over time. Late-arriving grades (user
feedback, offline judges) are already joined to their spans by the collector."""

from __future__ import annotations

import streamlit as st

from tierscope.dashboard import charts, filters
from tierscope.dashboard.data import fetch, nothing_in_scope
from tierscope.dashboard.transforms import (
    auto_bucket, count_text, label, quality_by_first, quality_matrix, regroup, timeseries_frame,
)

MAX_ROLES = 8
scope = filters.current()
params = scope.params()

st.title("Quality")
st.caption(f"Mean quality score (0–1) by role and tier — {scope.describe()}")
grouped = fetch("spend", "quality", by=["role", "tier"], **params)
graded = [r for r in grouped["rows"] if r["quality_n"]]
if not graded:
    nothing_in_scope("graded calls", scope.describe())
    st.caption("Grade calls with `tierscope.quality.score` on the span, or later with `record_quality(...)`.")
    st.stop()

total = grouped["total"]
a, b = st.columns(2)
a.metric("Graded calls", count_text(total["quality_n"]), help=f"of {count_text(total['spans'])} calls")
b.metric("Mean quality", f"{total['quality_mean']:.3f}")
means, counts = quality_matrix(graded)
st.plotly_chart(charts.quality_heatmap(means, counts), key="quality_heatmap")

graded_calls = regroup(graded, ["role"])
roles = [r["role"] for r in sorted(graded_calls, key=lambda r: -r["quality_n"]) if r["role"]]
options = fetch("filters", "filters", **params)
bucket = auto_bucket(scope.since, scope.until, options["first_span"], options["last_span"])
shown = roles[:MAX_ROLES]
series = fetch("spend/timeseries", "quality over time", bucket=bucket, split="role,tier",
               **{**params, "role": params["role"] or shown})["rows"]  # one request for every role shown
# One panel and a picker, not a panel per role: chromium spent ~0.7 s of main-thread time drawing
# 8 small-multiple panels (bench/pages.py, 10M spans), most of the page's render.
view = st.selectbox("Over time", [None, *shown], key="quality_view",
                    format_func=lambda role: "All roles (one line each)" if role is None else f"{label(role)} by tier")
if view is None:
    frame, split = timeseries_frame(quality_by_first(series), "Quality"), "role"
else:
    frame = timeseries_frame([{**r, "series": r["series2"]} for r in series if r["series"] == view], "Quality")
    split = "tier"
st.plotly_chart(charts.over_time(frame, "Quality", split), key="quality_over_time")
if len(roles) > MAX_ROLES:
    st.caption(f"Over time: the {MAX_ROLES} roles with the most graded calls; filter by role in the sidebar for others.")
