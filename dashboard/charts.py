"""Plotly chart builders: frames in, figures out. No data access, no Streamlit."""

from __future__ import annotations

import html

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

TIER_COLOURS = {"frontier": "#d62728", "mid": "#ff7f0e", "small": "#2ca02c", "local": "#1f77b4",
                "(not set)": "#7f7f7f"}
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend_title_text": "", "hovermode": "x unified"}


def _as_typed(values: pd.Series | pd.Index) -> pd.Series | pd.Index:
    """Plotly renders a subset of HTML in every label, legend entry and hover (`<b>`, `<br>`, `&amp;`,
    unknown tags dropped): escape names so `<script>` or `<b>x</b>` show exactly as typed."""
    return values.map(lambda v: html.escape(v, quote=False) if isinstance(v, str) else v)


def _tiers(frame: pd.DataFrame) -> dict[str, object]:
    """Tier colours and frontier-first order when the series are tiers; plotly's defaults otherwise."""
    series = set(frame["series"]) if "series" in frame else set()
    if not series or not series <= set(TIER_COLOURS):
        return {}
    return {"color_discrete_map": TIER_COLOURS, "category_orders": {"series": list(TIER_COLOURS)}}


def _quality_range(frame: pd.DataFrame) -> list[float]:
    """From a round 0.1 below the lowest point (never below 0) to just above 1."""
    low = float(frame["value"].min()) if len(frame) else 0.0
    return [max(0.0, int(low * 10) / 10 - 0.1), 1.02]


def over_time(frame: pd.DataFrame, metric: str, split: str) -> go.Figure:
    """Stacked bars per bucket for additive metrics; one line per series for quality."""
    title = f"{metric} by {split}"
    frame = frame.assign(series=_as_typed(frame["series"]))
    if metric == "Quality":
        fig = px.line(frame, x="bucket", y="value", color="series", markers=True, title=title,
                      hover_data={"n": True}, **_tiers(frame))
        fig.update_yaxes(range=_quality_range(frame), title="mean quality")
    else:
        fig = px.bar(frame, x="bucket", y="value", color="series", title=title, **_tiers(frame))
        fig.update_layout(barmode="stack")
        fig.update_yaxes(title="USD" if metric == "Spend" else metric.lower(),
                         tickprefix="$" if metric == "Spend" else "")
    fig.update_xaxes(title="")
    fig.update_layout(**_LAYOUT)
    return fig


def top_bars(frame: pd.DataFrame, title: str) -> go.Figure:
    """Horizontal bars of the biggest spenders, labelled with exact formatted amounts."""
    frame = frame.assign(name=_as_typed(frame["name"]))
    fig = px.bar(frame.iloc[::-1], x="spend", y="name", orientation="h", text="text", title=title)
    fig.update_traces(textposition="outside", cliponaxis=False, hovertemplate="%{y}: %{text}<extra></extra>")
    fig.update_xaxes(title="", tickprefix="$", range=[0, 1.2 * max(frame["spend"].max(), 1e-9)])  # room for labels
    fig.update_yaxes(title="")
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest"}, height=max(220, 40 * len(frame) + 80))
    return fig


def quality_heatmap(means: pd.DataFrame, counts: pd.DataFrame) -> go.Figure:
    """Mean quality by role x tier, each cell annotated with its mean and sample count."""
    text = [[("" if pd.isna(m) else f"{m:.2f}<br>n={int(n):,}") for m, n in zip(mr, nr)]
            for mr, nr in zip(means.to_numpy(), counts.fillna(0).to_numpy())]
    fig = go.Figure(go.Heatmap(z=means.to_numpy(), x=list(_as_typed(means.columns)), y=list(_as_typed(means.index)),
                               text=text, texttemplate="%{text}", zmin=0, zmax=1, colorscale="RdYlGn",
                               hovertemplate="%{y} on %{x}: %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Mean quality by role and tier", margin=_LAYOUT["margin"],
                      height=max(240, 60 * len(means.index) + 100))
    return fig
