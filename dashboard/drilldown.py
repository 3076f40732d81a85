"""Drill-down shared by the pages: a group's spans, then one trace's LLM calls in order."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tierscope.dashboard.data import fetch
from tierscope.dashboard.transforms import count_text, money_text, spans_frame

SPAN_LIMIT = 200


def spans_and_trace(params: dict[str, Any], key: str, exact: dict[str, str] | None = None) -> None:
    """The spans matching `params` (GET spans) and a picker that opens one of their traces.

    `exact` re-checks dimensions the API cannot filter on when empty (a span with no tier, say).
    """
    rows = fetch("spans", "spans", **params, limit=SPAN_LIMIT)["rows"]
    rows = [r for r in rows if all(r[k] == v for k, v in (exact or {}).items())]
    if not rows:
        st.info("No spans match this row in the current scope.")
        return
    shown = f"the newest {SPAN_LIMIT}" if len(rows) == SPAN_LIMIT else f"{len(rows)}"
    st.caption(f"Spans — {shown}, newest first")
    st.dataframe(spans_frame(rows), hide_index=True)
    traces = list(dict.fromkeys(r["trace_id"] for r in rows))
    trace_id = st.selectbox("Open a trace", traces, index=None, key=f"{key}_trace",
                            placeholder="Pick a trace to see its LLM calls in order")
    if trace_id:
        trace_view(trace_id)


def trace_view(trace_id: str) -> None:
    """Every LLM span of one trace, oldest first, with its role, tier, model, tokens, cost, quality."""
    trace = fetch(f"traces/{trace_id}", "the trace")
    spans = trace["spans"]
    st.subheader(f"Trace {trace_id}")
    a, b, c = st.columns(3)
    a.metric("LLM calls", count_text(len(spans)))
    b.metric("Trace cost", money_text(trace["cost_usd"]))
    c.metric("Unpriced calls", count_text(trace["unpriced_spans"]))
    st.dataframe(spans_frame(spans).drop(columns=["Trace"]), hide_index=True)
