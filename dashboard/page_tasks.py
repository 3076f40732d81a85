"""Cost per task (for finance): what one agent task (one trace) costs, the unit a proposal is priced
on. p50/p95 per task over time, the dearest tasks, and a drill-down into one task's calls. The
sidebar's range and filters choose the calls counted (role=planner: the planner's share of each
task); a task with an unpriced call has no known cost and is counted apart, never as $0."""

from __future__ import annotations

import streamlit as st

from tierscope.dashboard import filters
from tierscope.dashboard.data import fetch, nothing_in_scope
from tierscope.dashboard.drilldown import trace_view
from tierscope.dashboard.task_frames import buckets_frame, dearest_frame, quantiles_chart, task_cost_text
from tierscope.dashboard.transforms import auto_bucket, count_text, label, money_text

TOP = 20
scope = filters.current()
params = scope.params()

st.title("Cost per task")
st.caption(f"One task is one trace: the sum of its LLM calls — {scope.describe()}")
options = fetch("filters", "filters", **params)
picker, bucket_col = st.columns([4, 1])
features = picker.multiselect("Feature", options.get("features") or [], key="tasks_feature", format_func=label,
                              placeholder="All features")
bucket = bucket_col.selectbox("Bucket", ["auto", "hour", "day", "week", "month"], key="tasks_bucket")
if bucket == "auto":
    bucket = auto_bucket(scope.since, scope.until, options["first_span"], options["last_span"])
series = fetch("tasks", "cost per task", bucket=bucket, feature=features, limit=TOP, **params)  # with the dearest
total = series["total"]
if not total["tasks"]:
    nothing_in_scope("tasks", scope.describe())
    st.stop()

a, b, c, d = st.columns(4)
a.metric("Tasks", count_text(total["tasks"]))
b.metric("Median cost per task", money_text(total["p50_usd"]), help=f"p50, exact: ${total['p50_usd']}")
c.metric("p95 cost per task", money_text(total["p95_usd"]), help=f"Exact: ${total['p95_usd']}")
d.metric("Unpriced tasks", count_text(total["unpriced_tasks"]))
if total["unpriced_tasks"]:
    st.warning(f"**{total['unpriced_tasks']:,} of {total['tasks']:,} tasks have a call with no known price**: "
               "their cost is unknown, so they are left out of the quantiles and totals here (the dearest "
               "tasks show what their priced calls cost as a lower bound). Add the prices to prices.toml "
               "(TIERSCOPE_PRICES_FILE).", icon=":material/money_off:")
st.caption("Quantiles are exact (nearest rank over the priced tasks); a task is counted in the bucket of its "
           "first call.")
st.plotly_chart(quantiles_chart(series["rows"]), key="tasks_chart")
st.dataframe(buckets_frame(series["rows"]), hide_index=True)

st.subheader(f"The {TOP} dearest tasks")
top = series["dearest"]
st.dataframe(dearest_frame(top), hide_index=True)
picked = st.selectbox("Open a task", range(len(top)), index=None, key="tasks_drill",
                      format_func=lambda i: f"{top[i]['trace_id']} — {task_cost_text(top[i])}",
                      placeholder="Pick a task to see its LLM calls in order")
if picked is not None:
    trace_view(top[picked]["trace_id"])
