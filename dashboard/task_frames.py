"""Cost per task's display frames and chart: GET tasks and tasks/top answers in, frames and a figure
out. No Streamlit, no I/O. Money stays Decimal text until formatted; the chart gets floats."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from tierscope.dashboard.transforms import count_text, label, money_text, time_text

QUANTILE_LINES = (("p50_usd", "p50 (median task)"), ("p95_usd", "p95"))


def task_cost_text(row: Mapping[str, Any]) -> str:
    """A task's cost; with unpriced calls, what its priced calls cost as a lower bound, never $0."""
    if row["cost_usd"] is not None:
        return money_text(row["cost_usd"])
    unpriced = row["unpriced_calls"]
    return f"≥ {money_text(row['priced_cost_usd'])} ({unpriced:,} unpriced call{'s' * (unpriced != 1)})"


def dearest_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The dearest tasks as a display table, dearest first."""
    return pd.DataFrame([{
        "Task (trace)": r["trace_id"], "Cost": task_cost_text(r), "Calls": count_text(r["calls"]),
        "Roles": ", ".join(label(v) for v in r["roles"]), "Features": ", ".join(label(v) for v in r["features"]),
        "First call (UTC)": time_text(r["first_span"]),
    } for r in rows], columns=["Task (trace)", "Cost", "Calls", "Roles", "Features", "First call (UTC)"])


def buckets_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """GET tasks rows as a display table: exact figures per bucket."""
    return pd.DataFrame([{
        "Bucket": r["bucket"][:16].replace("T", " "), "Tasks": count_text(r["tasks"]),
        "p50 per task": money_text(r["p50_usd"]), "p95 per task": money_text(r["p95_usd"]),
        "Priced tasks' total": money_text(r["total_usd"]), "Unpriced tasks": count_text(r["unpriced_tasks"]),
    } for r in rows], columns=["Bucket", "Tasks", "p50 per task", "p95 per task", "Priced tasks' total",
                               "Unpriced tasks"])


def quantiles_chart(rows: list[Mapping[str, Any]]) -> go.Figure:
    """p50 and p95 cost per task, one line each, per bucket of the tasks' first call."""
    fig = go.Figure()
    x = [datetime.fromisoformat(r["bucket"]) for r in rows]
    for key, name in QUANTILE_LINES:
        fig.add_trace(go.Scatter(x=x, y=[None if r[key] is None else float(r[key]) for r in rows], name=name,
                                 mode="lines+markers", customdata=[money_text(r[key]) for r in rows],
                                 hovertemplate="%{customdata}"))
    fig.update_layout(title="Cost per task over time", margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      hovermode="x unified", legend_title_text="")
    fig.update_yaxes(title="USD per task", tickprefix="$", rangemode="tozero")
    return fig
