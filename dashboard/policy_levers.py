"""The Policy page's "Routing levers" section: per role, the share of calls on each tier, how often the
router retried (escalation, failover) and what that cost, the spend, and the two levers cheaper than a
tier change — what the prompt cache saved and what batch processing would save on latency-tolerant
roles. Figures come from GET /api/v1/levers, exact; this module only lays them out."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from tierscope import clock
from tierscope.dashboard.charts import TIER_COLOURS
from tierscope.dashboard.data import fetch
from tierscope.dashboard.transforms import count_text, money_text, share_text


def _rate(value: float | None) -> str:
    return "—" if value is None else share_text(value)


def levers_frame(roles: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{
        "role": r["role"], "calls": count_text(r["spans"]), "spend": money_text(r["cost_usd"]),
        "calls per tier": "  ".join(f"{tier} {share_text(s['share'])}" for tier, s in r["tiers"].items()),
        "escalation rate": _rate(r["escalations"]["rate"]), "escalation cost": money_text(r["escalations"]["cost_usd"]),
        "failover rate": _rate(r["failovers"]["rate"]), "failover cost": money_text(r["failovers"]["cost_usd"]),
        "input read from cache": _rate(r["cache"]["read_share"]), "cache saved": money_text(r["cache"]["saving_usd"]),
        "batch would save": money_text(r["batch"]["saving_usd"]) if r["batch"]["latency_tolerant"] else "— (interactive)",
    } for r in roles])


def render_levers(window_days: int) -> None:
    st.subheader("Routing levers by role")
    now = clock.now()
    since = (now.replace(minute=0, second=0, microsecond=0) - timedelta(days=window_days)).isoformat()
    body = fetch("levers", "the routing levers", since=since, until=now.isoformat(), bucket="day")
    if not body["roles"]:
        st.info("No LLM calls with a role in the window yet.")
        return
    st.caption("Rates are retries per original call: an escalation retries a failed check one tier up, a failover "
               "retries a provider error (429, 5xx, timeout) on another model; both are billed. The cache saving is "
               "cache-read tokens at the input price minus what they cost; the batch saving is at the provider's "
               "batch price, shown for latency-tolerant roles (`deadline: async` in the policy file, or "
               "`role(..., deadline=\"async\")`).")
    st.dataframe(levers_frame(body["roles"]), hide_index=True, width="stretch", key="policy_levers")
    unknown = sum(r["saving_unknown_spans"] for r in body["roles"])
    if unknown:
        st.warning(f"{unknown:,} priced calls were stored before savings were priced: `tierscope reprice` fills them in.")
    series = pd.DataFrame(body["series"])
    if series.empty:
        return
    role = st.selectbox("Role over time", [r["role"] for r in body["roles"]], key="policy_levers_role")
    mine = series[series["role"] == role]
    fig = px.bar(mine, x="bucket", y="spans", color="tier", title=f"Calls per tier per day: {role}",
                 color_discrete_map=TIER_COLOURS, category_orders={"tier": list(TIER_COLOURS)})
    fig.update_layout(barmode="stack", margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend_title_text="")
    fig.update_xaxes(title="")
    st.plotly_chart(fig, key="policy_levers_chart")
    daily = mine.groupby("bucket", as_index=False)[["spans", "escalated_spans", "failover_spans"]].sum()
    original = daily["spans"] - daily["escalated_spans"] - daily["failover_spans"]
    spend = mine.groupby("bucket")["cost_usd"].apply(lambda c: sum(map(Decimal, c)))
    st.dataframe(pd.DataFrame({
        "day": daily["bucket"].str[:10], "calls": daily["spans"],
        "escalation rate": (daily["escalated_spans"] / original.where(original > 0)).map(
            lambda v: "—" if pd.isna(v) else share_text(v)),
        "failover rate": (daily["failover_spans"] / original.where(original > 0)).map(
            lambda v: "—" if pd.isna(v) else share_text(v)),
        "spend": [money_text(spend[b]) for b in daily["bucket"]],
    }), hide_index=True, width="stretch", key="policy_levers_daily")
