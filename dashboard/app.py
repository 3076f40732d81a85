"""tierscope dashboard: `tierscope dashboard` (or `streamlit run dashboard/app.py`, without the warm-up).

Reads everything from the collector's read API at TIERSCOPE_API (default http://127.0.0.1:4318).
This script draws the shared sidebar filters, then runs the chosen page.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from tierscope.dashboard import filters
from tierscope.dashboard.access import login, unlocked
from tierscope.dashboard.data import api_url, no_spans_yet

HERE = Path(__file__).parent

st.set_page_config(page_title="tierscope", page_icon=":material/account_tree:", layout="wide")


def page(file: str, title: str, icon: str, default: bool = False) -> StreamlitPage:
    """A page from a file next to this script, at /<title in kebab case> (Month close -> /month-close)."""
    return st.Page(file, title=title, icon=icon, url_path=title.lower().replace(" ", "-"), default=default)


def optional(file: str, title: str, icon: str) -> list[StreamlitPage]:
    """A page another module provides, listed only once its file exists."""
    return [page(file, title, icon)] if (HERE / file).exists() else []


sections = {
    "Engineering": [page("page_spend.py", "Spend", ":material/payments:", default=True),
                    page("page_quality.py", "Quality", ":material/grade:")],
    "Finance": [page("page_month.py", "Month close", ":material/calendar_month:"),
                page("page_tasks.py", "Cost per task", ":material/receipt_long:")],
    "Routing": [page("page_misrouted.py", "Misrouted", ":material/alt_route:"),
                # --- Reserved: the Alerts and Policy pages (dashboard/page_alerts.py, page_policy.py)
                # --- are built separately; they appear here as soon as their files exist.
                *optional("page_alerts.py", "Alerts", ":material/notifications:"),
                *optional("page_policy.py", "Policy", ":material/policy:")],
}
if not unlocked():  # TIERSCOPE_DASHBOARD_PASSWORD is set and this session has not given it yet
    st.navigation([st.Page(login, title="Log in", icon=":material/lock:")]).run()
    st.stop()
navigation = st.navigation(sections)

st.sidebar.caption(f"Collector: {api_url()}")
if filters.sidebar() is None:
    no_spans_yet()
    st.stop()
navigation.run()
