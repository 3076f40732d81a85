"""Misrouted (for engineers and finance): frontier calls that broke the routing policy or that a
cheaper, proven tier could have served, ranked by saving, with evidence and a drill-down."""

from __future__ import annotations

import streamlit as st

from tierscope.dashboard import filters
from tierscope.dashboard.data import fetch
from tierscope.dashboard.drilldown import spans_and_trace
from tierscope.dashboard.transforms import count_text, evidence_frame, md_code, misrouted_frame, money_text

COLUMNS = {"Role": st.column_config.TextColumn(width=100), "Now": st.column_config.TextColumn(width=190),
           "Move to": st.column_config.TextColumn(width=170), "Interval": st.column_config.TextColumn(width=120),
           "Why": st.column_config.TextColumn(width="large")}
scope = filters.current()
params = scope.params()

st.title("Misrouted calls")
st.caption(f"Frontier calls that did not need a frontier model — {scope.describe()}")
confidence = st.segmented_control("Confidence", [0.9, 0.95, 0.99], default=0.95, required=True,
                                  format_func=lambda c: f"{c:.0%}", key="misrouted_confidence")
result = fetch("misrouted", "misrouted calls", confidence=confidence, **params)
policy = result["policy"]
rows = result["rows"]

a, b, c = st.columns(3)
a.metric("Potential saving", money_text(result["total_saving_usd"]), help=f"Exact: ${result['total_saving_usd']}")
b.metric("Flagged calls", count_text(result["flagged_calls"]))
c.metric("Routing policy", f"v{policy['version']}" if policy["version"] else ("unversioned" if policy["found"] else "none"),
         help=f"{policy['path']}" + (f" (sha256 {policy['sha256']})" if policy["sha256"] else " — not found"))
if not policy["found"]:
    st.info(f"No routing policy file at `{policy['path']}`: only evidence-based findings are shown. Write one "
            "(roles → allowed_tiers, pinned_model, quality_floor) and point TIERSCOPE_POLICY_FILE at it.",
            icon=":material/policy:")
elif policy["pinned_roles"]:
    st.caption(f"Pinned by policy, never flagged: {', '.join(md_code(r) for r in policy['pinned_roles'])}.")

if not rows:
    st.success("No misrouted frontier calls in this scope: no policy violations, and no role has a cheaper tier "
               f"whose quality clears its floor (default {policy['quality_floor']}) with {confidence:.0%} confidence.",
               icon=":material/check_circle:")
else:
    st.dataframe(misrouted_frame(rows), hide_index=True, column_config=COLUMNS)
    picked = st.selectbox("Drill down into", range(len(rows)), index=None, key="misrouted_drill",
                          format_func=lambda i: f"{rows[i]['role']} · {rows[i]['tier']} · {rows[i]['model']} — "
                                                f"saves {money_text(rows[i]['saving_usd'])}",
                          placeholder="Pick a finding to see its calls")
    if picked is not None:
        st.text(f"Why: {rows[picked]['reason']}.")  # a sentence with names in it: plain text, never Markdown
        drill = rows[picked]["drill_down"]["params"]
        spans_and_trace(drill, "misrouted", {k: drill[k] for k in ("tier", "model", "provider")})

with st.expander(f"Quality evidence by role and cheaper tier ({len(result['evidence'])})"):
    st.caption(f"Wilson score interval at {confidence:.0%} on mean quality; a tier qualifies when the interval's "
               "lower bound is at or above the role's floor.")
    if result["evidence"]:
        st.dataframe(evidence_frame(result["evidence"]), hide_index=True)
    else:
        st.write("No graded calls on tiers below frontier yet: send `tierscope.quality.score` with your spans.")
