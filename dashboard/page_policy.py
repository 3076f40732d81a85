"""Policy: the recommended routing policy (role -> model and tier) learned from this telemetry,
diffed against today's routing, with the alerts that shaped it, its off-policy estimate from
router-logged calls, its canaries, each model's latency against its role's SLO, and the YAML to commit."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tierscope.dashboard.data import fetch
from tierscope.dashboard.policy_latency import latency_section
from tierscope.dashboard.policy_levers import render_levers
from tierscope.dashboard.transforms import md_code, money_text
from tierscope.terms import DEFAULT_QUALITY_TARGET

st.title("Recommended policy")
c1, c2 = st.columns(2)
target = c1.slider("Keep overall quality at", 0.80, 1.00, DEFAULT_QUALITY_TARGET, 0.01, format="%.2f",
                   help="as a share of sending every role to its frontier model")
window = c2.selectbox("Evidence window (days)", [7, 14, 30, 90], index=2)
body = fetch("recommend", "the recommendation", quality_target=target, window_days=window)
if body.get("policy", True) is None or not body.get("routes"):
    st.info(body.get("message", "Nothing to recommend yet: it needs priced LLM spans with a role and quality scores."))
    render_levers(window)
    st.stop()

a, b, c = st.columns(3)
a.metric("Expected monthly saving", money_text(body["expected_monthly_saving_usd"]))
b.metric("Expected quality vs frontier", f"{body['expected_quality_ratio']:.1%}")
c.metric("Chance of meeting the target", f"{body['target_probability']:.0%}",
         help="for the recommended routing; roles whose cheaper candidate is still unmeasured: "
              + (", ".join(body["unknown_roles"]) if body.get("unknown_roles") else "none"))
if body.get("unknown_roles"):
    st.info("Unknown yet whether a cheaper model would do for: " + ", ".join(map(md_code, body["unknown_roles"]))
            + ". A canary per role finds out (below).")
rows = pd.DataFrame([{
    "role": r["role"], "today": r["current_model"], "recommended": r["model"], "tier": r["tier"],
    "change": "—" if r["model"] == r["current_model"] else "move",
    "cost/call now": money_text(r["current_cost_per_call_usd"]), "cost/call after": money_text(r["expected_cost_per_call_usd"]),
    "monthly saving": money_text(r["expected_monthly_saving_usd"]), "expected quality": r["expected_quality"],
    "confidence": "unknown" if r["confidence"] is None else f"{r['confidence']:.0%}", "evidence n": r["evidence_n"], "pinned": r["pinned"], "why": r["reason"],
} for r in body["routes"]])
st.dataframe(rows, hide_index=True, width="stretch", key="policy_routes")
if body["demoted"]:
    st.warning("Demoted by a firing quality alert: "
               + ", ".join(f"{md_code(role)} → {md_code(model)}" for role, model in body["demoted"]))

render_levers(window)

st.subheader("Off-policy estimate")
estimate = body.get("offpolicy") or {}
if estimate.get("status") == "no_support":  # role names: shown as typed, never as Markdown
    st.info("No router-logged calls on the recommended models yet. Not covered: "
            + ", ".join(map(md_code, estimate.get("unsupported_roles", []))))
elif estimate.get("status") != "ok":
    st.info(estimate.get("message", "No off-policy estimate: it needs spans logged by tierscope.instrumentation.Router."))
else:
    cost, quality, logged = estimate["cost_per_call_usd"], estimate["quality"], estimate["logged"]
    a, b, c = st.columns(3)
    a.metric("Estimated cost per call", money_text(cost["estimate"]) if cost else "—",
             help=f"logged routing: {money_text(logged['cost_per_call_usd'])}")
    b.metric("Estimated quality", f"{quality['estimate']:.3f}" if quality else "—",
             help=None if logged["quality"] is None else f"logged routing: {logged['quality']:.3f}")
    c.metric("Router-logged calls", f"{estimate['n']:,}")
    level = f"{estimate['confidence_level']:.0%}"
    bounds = [f"cost per call {money_text(cost['low'])} to {money_text(cost['high'])}" if cost else "",
              f"quality {quality['low']:.3f} to {quality['high']:.3f}" if quality else ""]
    st.caption(f"Inverse propensity scoring over {estimate['n']:,} calls the Router logged "
               f"({estimate['matched']:,} on the recommended models); {level} interval: "
               + ", ".join(b for b in bounds if b) + ".")
    st.dataframe(pd.DataFrame([{
        "role": role, "cost/call": money_text(r["cost_per_call_usd"]["estimate"]) if r["cost_per_call_usd"] else "—",
        "quality": None if r["quality"] is None else r["quality"]["estimate"],
        "calls": (r["cost_per_call_usd"] or r["quality"] or {}).get("n"),
    } for role, r in estimate["roles"].items()]), hide_index=True, width="stretch", key="policy_offpolicy")
    if estimate["unsupported_roles"]:
        st.warning("Not covered (no logged call on the recommended model): "
                   + ", ".join(map(md_code, estimate["unsupported_roles"])))
canaries = [r for r in body["routes"] if r.get("canary")]
if canaries:
    st.subheader("Canaries")
    st.caption("A share of the role's calls on a cheaper model, graded, until its lower bound clears the floor "
               "(the role moves) or its upper bound falls below it (it stays). Worst case: every canary answer fails.")
    st.dataframe(pd.DataFrame([{
        "role": r["role"], "today": r["current_model"], "canary": r["canary"]["model"], "tier": r["canary"]["tier"],
        "state": r["canary"]["state"], "share": f"{r['canary']['share']:.0%}",
        "graded": f"{r['canary']['graded_calls_so_far']} / {r['canary']['graded_calls_needed']}",
        "days to decide": r["canary"]["days_until_decision"],
        "monthly saving if it holds": money_text(r["canary"]["monthly_saving_if_holds_usd"]),
        "worst-case quality drop": r["canary"]["worst_case_quality_drop"],
        "worst-case extra cost": money_text(r["canary"]["worst_case_extra_cost_usd"]),
        "floor": r["canary"]["floor"],
    } for r in canaries]), hide_index=True, width="stretch", key="policy_canaries")
latency_section(body)
st.download_button("Download policy (YAML)", body["yaml"], file_name="routing-policy.recommended.yaml", key="policy_yaml")
with st.expander("YAML"):
    st.code(body["yaml"], language="yaml")

st.subheader("Published versions")
published = fetch("policy/versions", "the published policy versions")
if not published["versions"]:
    st.info("No version published yet: `tierscope policy publish routing-policy.recommended.yaml`, then "
            "routers follow it with `Router(policy_url=\".../api/v1/policy\")`.")
else:
    a, b = st.columns(2)
    a.metric("Live version", published["live"] or "—")
    b.metric("Canary", published["canary"] or "none")
    for action in published["actions"]:
        st.warning(f"Just now: {action['action'].replace('_', ' ')} — {action['reason']}")
    if published["evidence"]:
        st.dataframe(pd.DataFrame([{
            "role": role, "previous": e["previous_model"], "canary": e["model"], "state": e["state"],
            "graded": f"{e['graded_calls_so_far']} / {e['graded_calls_needed']}", "quality": e["quality"],
            "lower bound": e["quality_low"], "floor": e["floor"],
        } for role, e in published["evidence"].items()]), hide_index=True, width="stretch", key="policy_canary_evidence")
    st.dataframe(pd.DataFrame([{
        "version": v["version"], "status": v["status"], "why": v["reason"], "state because": v["status_reason"],
        "source": v["source"], "published": v["created_at"][:19], "canary share": v["canary_share"] or None,
        "changed": ", ".join(v["changed_roles"]),
        "routes": ", ".join(f"{role} → {model}" for role, model in sorted(v["routes"].items())),
    } for v in published["versions"]]), hide_index=True, width="stretch", key="policy_versions")
