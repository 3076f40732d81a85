"""The dashboard's optional password (TIERSCOPE_DASHBOARD_PASSWORD): off when empty.

A shared secret in front of a loopback or private deployment, not an identity system; the read
API's own token (TIERSCOPE_TOKEN) still decides which tenant's data the dashboard sees.
"""

from __future__ import annotations

import hmac

import streamlit as st

from tierscope.settings import Settings

_STATE = "tierscope_unlocked"


def unlocked() -> bool:
    password = Settings().dashboard_password
    return not password or bool(st.session_state.get(_STATE))


def login() -> None:
    """The only page while locked: ask for the password, compare in constant time."""
    st.title("tierscope")
    with st.form("login"):
        given = st.text_input("Dashboard password", type="password", key="login_password")
        submitted = st.form_submit_button("Open the dashboard")
    if submitted and hmac.compare_digest(given.encode(), Settings().dashboard_password.encode()):
        st.session_state[_STATE] = True
        st.rerun()
    if submitted:
        st.error("Wrong password.")
