"""The Policy page's Latency section: p50/p95 span duration of every (role, model) over the evidence
window against the role's latency SLO (`latency_p95_ms` in the routing policy file), and a warning
for every recommended route that breaks its SLO (pinned, or no eligible model meets it)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from tierscope.dashboard.transforms import count_text, md_code


_STATES = {None: "—", "met": "within SLO", "broken": "breaks SLO", "unknown": "too few timed calls"}


def latency_frame(body: dict[str, Any]) -> pd.DataFrame:
    """One row per (role, model) of the recommendation's `arm_latency`, marked with the role's routes."""
    routes = {r["role"]: r for r in body["routes"]}
    rows = []
    for arm in body.get("arm_latency") or []:
        route = routes.get(arm["role"], {})
        marks = [word for word, model in (("recommended", route.get("model")), ("today", route.get("current_model")))
                 if model == arm["model"]]
        rows.append({"role": arm["role"], "model": arm["model"], "tier": arm["tier"], "route": ", ".join(marks),
                     "timed calls": count_text(arm["timed_calls"]), "p50 (ms)": count_text(arm["p50_ms"]),
                     "p95 (ms)": count_text(arm["p95_ms"]), "SLO p95 (ms)": count_text(arm["slo_p95_ms"]),
                     "latency": _STATES[arm["slo_state"]]})
    return pd.DataFrame(rows)


def latency_section(body: dict[str, Any]) -> None:
    frame = latency_frame(body)
    if frame.empty:
        return
    st.subheader("Latency")
    st.caption("p50 and p95 of span duration per model over the evidence window. A role's `latency_p95_ms` in the "
               "routing policy file is its SLO: the recommendation does not move it onto a model that breaks it.")
    for r in body["routes"]:
        latency = r.get("latency") or {}
        if latency.get("breaks_slo"):
            st.warning(f"{md_code(r['role'])} → {md_code(r['model'])} breaks its latency SLO: p95 "
                       f"{count_text(latency['p95_ms'])} ms > {count_text(latency['slo_p95_ms'])} ms"
                       + (" (pinned)" if r["pinned"] else " (no eligible model meets it)"))
    st.dataframe(frame, hide_index=True, width="stretch", key="policy_latency")
