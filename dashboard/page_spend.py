"""Spend (for engineers): spend, calls, tokens and quality by role, tier and model over time, the
top spenders, a drill-down from any role x tier x model row to its spans and traces, and the spend
by the service tier and processing the calls were billed at (unknown tier values called out)."""

from __future__ import annotations

import streamlit as st

from tierscope.dashboard import charts, filters
from tierscope.dashboard.data import fetch, nothing_in_scope
from tierscope.dashboard.drilldown import spans_and_trace
from tierscope.dashboard.transforms import (
    auto_bucket, count_text, md_code, money_text, quality_text, regroup, row_label, spend_frame,
    timeseries_frame, top_frame, unpriced_models,
)

DIMS = ["role", "tier", "model"]
scope = filters.current()
params = scope.params()

st.title("Spend")
st.caption(f"Spend, calls, tokens and quality — {scope.describe()}")
grouped = fetch("spend", "spend", by=DIMS, **params)
total = grouped["total"]
if not total["spans"]:
    nothing_in_scope("spans", scope.describe())
    st.stop()

a, b, c, d, e = st.columns(5)
a.metric("Spend", money_text(total["cost_usd"]), help=f"Exact: ${total['cost_usd']} (priced calls only)")
b.metric("Calls", count_text(total["spans"]))
c.metric("Tokens", count_text(total["input_tokens"] + total["output_tokens"]))
d.metric("Mean quality", quality_text(total["quality_mean"]), help=f"{total['quality_n']:,} graded calls")
e.metric("Unpriced calls", count_text(total["unpriced_spans"]))
by_model = regroup(grouped["rows"], ["model"])  # one request serves every grouping on the page
if total["unpriced_spans"]:
    st.warning(f"**{total['unpriced_spans']:,} calls ({total['unpriced_tokens']:,} tokens) have no known price** "
               f"and are not in the spend above: {', '.join(map(md_code, unpriced_models(by_model)))}. "
               "Add their prices to prices.toml (TIERSCOPE_PRICES_FILE).", icon=":material/money_off:")

left, right, bucket_col = st.columns([3, 3, 2])
metric = left.segmented_control("Show", ["Spend", "Calls", "Tokens", "Quality"], default="Spend", required=True,
                                key="spend_metric")
split = right.segmented_control("Split by", ["role", "tier", "model", "team", "service_tier"], default="tier",
                                required=True,
                                key="spend_split")
options = fetch("filters", "filters", **params)
bucket = bucket_col.selectbox("Bucket", ["auto", "hour", "day", "week", "month"], key="spend_bucket")
if bucket == "auto":
    bucket = auto_bucket(scope.since, scope.until, options["first_span"], options["last_span"])
series = fetch("spend/timeseries", "spend over time", bucket=bucket, split=split, **params)["rows"]
st.plotly_chart(charts.over_time(timeseries_frame(series, metric), metric, split), key="spend_chart")

top_roles, top_models = st.columns(2)
by_role = regroup(grouped["rows"], ["role"])
top_roles.plotly_chart(charts.top_bars(top_frame(by_role, "role"), "Top roles by spend"), key="top_roles")
top_models.plotly_chart(charts.top_bars(top_frame(by_model, "model"), "Top models by spend"), key="top_models")

st.subheader("By role × tier × model")
rows = grouped["rows"]
st.dataframe(spend_frame(rows, DIMS), hide_index=True)
picked = st.selectbox("Drill down into", range(len(rows)), index=None, key="spend_drill",
                      format_func=lambda i: row_label(rows[i], DIMS), placeholder="Pick a row to see its spans")
if picked is not None:
    row = rows[picked]
    exact = {d: row[d] for d in DIMS}
    spans_and_trace({**params, **exact, "role": [row["role"]]}, "spend", exact)

st.subheader("By service tier × processing")
BILLED = ["service_tier", "processing"]
billed = fetch("spend", "spend by service tier", by=BILLED, **params)
st.dataframe(spend_frame(billed["rows"], BILLED), hide_index=True)
if unknown := billed.get("unknown_service_tiers"):
    calls = ", ".join(f"{md_code(t)} ({n:,} call{'s' * (n != 1)})" for t, n in sorted(unknown.items()))
    st.warning(f"**Service tiers no price knows**, priced at the default rate: {calls}.", icon=":material/help:")
