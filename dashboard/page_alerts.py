"""Alerts (on-call): paired cost + quality rules with the state of both sides, their history, and
a form to arm, disarm or acknowledge a rule. Writes go to the collector's API like the CLI's."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tierscope.dashboard.data import _client, api_url, fetch
from tierscope.settings import Settings
from tierscope.terms import TIERS

st.title("Alerts")
st.caption("Every rule arms both sides: a cost ceiling and a quality floor over one scope and window.")
body = fetch("alerts", "alert rules")


def post(path: str, **kwargs) -> None:
    response = _client(api_url(), Settings().token)._http.post(f"/api/v1/{path}", **kwargs)
    if response.status_code == 200:
        st.cache_data.clear()
        st.rerun()
    st.error(response.json().get("error", response.text))


if body["rules"]:
    rules = pd.DataFrame([{
        "rule": r["rule_id"], "name": r["name"],
        "scope": ", ".join(f"{k}={r[k]}" for k in ("role", "tier", "model", "team") if r[k]) or "everything",
        "armed": r["armed"], "cost": r["state"]["cost"], "quality": r["state"]["quality"],
        "cost ceiling": r["cost_ceiling_usd"] or (f"+{r['cost_pct_over_baseline']:g}% over baseline"
                                                  if r["cost_pct_over_baseline"] is not None else ""),
        "quality floor": f"{r['quality_floor']:.2f} ({r['quality_metric']}, n≥{r['min_samples']})",
        "window": f"{r['window_seconds'] // 60} min"} for r in body["rules"]])
    firing = rules[(rules["cost"] == "fired") | (rules["quality"] == "fired")]
    a, b = st.columns(2)
    a.metric("Rules", len(rules))
    b.metric("Firing", len(firing))
    st.dataframe(rules, hide_index=True, width="stretch", key="alert_rules")
    chosen = st.selectbox("Rule", [r["rule_id"] for r in body["rules"]], key="alert_rule_pick")
    c1, c2 = st.columns(2)
    if c1.button("Acknowledge", key="alert_ack"):
        post(f"alerts/rules/{chosen}/ack", params={"by": "dashboard"})
    if c2.button("Disarm", key="alert_disarm"):
        post(f"alerts/rules/{chosen}/disarm")
else:
    st.info("No alert rules yet. Arm one below, or with `tierscope alerts arm --role worker --cost-ceiling 5 "
            "--quality-floor 0.8`.")

st.subheader("History")
if body["events"]:
    events = pd.DataFrame(body["events"])[["at", "rule_id", "kind", "side", "observed", "threshold", "samples", "detail"]]
    st.dataframe(events, hide_index=True, width="stretch", key="alert_events")
else:
    st.caption("No alert has fired yet.")

with st.form("arm_rule"):
    st.subheader("Arm a rule")
    c1, c2, c3, c4 = st.columns(4)
    role = c1.text_input("Role")
    tier = c2.selectbox("Tier", ["", *TIERS])
    model = c3.text_input("Model")
    team = c4.text_input("Team")
    c1, c2, c3, c4 = st.columns(4)
    ceiling = c1.text_input("Cost ceiling (USD per window)", "10")
    floor = c2.number_input("Quality floor", 0.0, 1.0, 0.8, 0.05)
    window = c3.number_input("Window (minutes)", 1, 90 * 24 * 60, 60)
    min_samples = c4.number_input("Minimum graded calls", 1, 100_000, 20)
    webhook = st.text_input("Webhook URL (optional; Slack URLs get Slack's message shape)")
    if st.form_submit_button("Arm"):
        post("alerts/rules", json={"name": f"{role or tier or model or team or 'all'} cost+quality", "role": role,
                                   "tier": tier, "model": model, "team": team, "cost_ceiling_usd": ceiling,
                                   "quality_floor": floor, "window_seconds": int(window) * 60,
                                   "min_samples": int(min_samples), "webhooks": [webhook] if webhook else []})
