"""Quality: mean quality by role and tier, overall and over time. Late-arriving grades (user
feedback, offline judges) are already joined to their spans by the collector."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tierscope.dashboard import charts, filters
from tierscope.dashboard.data import fetch, nothing_in_scope
from tierscope.dashboard.transforms import auto_bucket, count_text, label, quality_matrix, timeseries_frame

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

roles = sorted({r["role"] for r in graded if r["role"]}, key=lambda role: -sum(r["quality_n"] for r in graded if r["role"] == role))
options = fetch("filters", "filters", **params)
bucket = auto_bucket(scope.since, scope.until, options["first_span"], options["last_span"])
shown = roles[:MAX_ROLES]
series = fetch("spend/timeseries", "quality over time", bucket=bucket, split="role,tier",
               **{**params, "role": params["role"] or shown})["rows"]  # one request for every role shown
frames = []
for role in shown:
    rows = [{**r, "series": r["series2"]} for r in series if r["series"] == role]
    frames.append(timeseries_frame(rows, "Quality").assign(role=label(role)))
st.plotly_chart(charts.quality_over_time(pd.concat(frames, ignore_index=True)), key="quality_over_time")
if len(roles) > MAX_ROLES:
    st.caption(f"Showing the {MAX_ROLES} roles with the most graded calls; filter by role in the sidebar for others.")
