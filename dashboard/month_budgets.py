"""Month close's Budgets section (for finance): each monthly budget's actual spend, run-rate
forecast with its 90% interval and unpriced calls for the month shown, the notices sent, and a form
to set or remove a budget (through the API, as `tierscope budget` does)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tierscope.dashboard.budget_frames import budget_display
from tierscope.dashboard.data import _client, api_url, fetch
from tierscope.settings import Settings


def _write(method: str, **kwargs) -> None:
    response = _client(api_url(), Settings().token)._http.request(method, "/api/v1/budgets", **kwargs)
    if response.status_code == 200:
        st.cache_data.clear()
        st.rerun()
    st.error(response.json().get("error", response.text))


def budgets_section(month: str) -> None:
    """Budget, actual and forecast per budget for `month`, then the notices and the set/remove form."""
    st.subheader("Budgets")
    st.caption("Monthly budgets per scope; they may overlap. The forecast is the run rate to month end, with a 90% "
               "interval from the spread of the month's full days. Unpriced calls are beside the actual, never $0.")
    body = fetch("budgets", "budgets", month=month)
    if body["budgets"]:
        st.dataframe(budget_display(body["budgets"]), hide_index=True, width="stretch", key="budget_table")
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        chosen = c1.selectbox("Budget to remove", [b["budget_id"] for b in body["budgets"]], key="budget_pick")
        if c2.button("Remove budget", key="budget_rm"):
            _write("DELETE", params={"budget_id": chosen})
    else:
        st.info("No budgets yet. Set one below, or with `tierscope budget set --team search --monthly-usd 2000 "
                "--notify-at 80,90,100 --webhook URL`.")
    if body["notices"]:
        notices = pd.DataFrame(body["notices"])[["at", "budget_id", "kind", "threshold", "detail"]]
        st.dataframe(notices, hide_index=True, width="stretch", key="budget_notices")
    with st.form("set_budget"):
        c1, c2, c3 = st.columns(3)
        kind = c1.selectbox("Scope", ["total", "team", "role", "feature", "service"], key="budget_kind")
        value = c2.text_input("Name (team, role, feature or service)", key="budget_value")
        monthly = c3.text_input("Monthly budget (USD)", key="budget_usd")
        c4, c5, c6 = st.columns(3)
        notify = c4.text_input("Notify at (%)", "80,100", key="budget_notify")
        hook = c5.text_input("Webhook URL (optional)", key="budget_hook")
        tz = c6.text_input("Time zone", "UTC", key="budget_tz")
        if st.form_submit_button("Save budget"):
            _write("POST", json={"kind": kind, "value": value, "monthly_usd": monthly, "notify_at": notify,
                                 "webhooks": [hook] if hook else [], "tz": tz})
