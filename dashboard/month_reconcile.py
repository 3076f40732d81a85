"""Month close's Reconcile section (for finance): upload the providers' cost exports (OpenAI Costs
API JSON, Anthropic cost report JSON, or CSV date,provider,model,amount_usd) and see them lined up
with what tierscope measured per provider and model, largest differences first — the same
reconciliation as `tierscope reconcile` (collector.interop.reconcile)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tierscope.collector.interop.invoices import InvoiceError, parse_invoice
from tierscope.collector.interop.reconcile import reconcile
from tierscope.dashboard.data import fetch
from tierscope.dashboard.transforms import count_text, money_text


def reconcile_display(body: dict) -> pd.DataFrame:
    return pd.DataFrame([{"Provider": r["provider"], "Model": r["model"], "Invoice": money_text(r["invoice_usd"]),
                          "tierscope": money_text(r["tierscope_usd"]), "Difference": money_text(r["difference_usd"]),
                          "Unpriced calls": count_text(r["unpriced_spans"])} for r in body["rows"]],
                        columns=["Provider", "Model", "Invoice", "tierscope", "Difference", "Unpriced calls"])


def reconcile_section(month: str, tz: str) -> None:
    """The upload, then the totals, the rows (largest differences first) and any ambiguous names."""
    st.subheader("Reconcile")
    files = st.file_uploader("Provider cost exports for this month (OpenAI Costs API JSON, Anthropic cost report "
                             "JSON, or CSV date,provider,model,amount_usd)", type=["json", "csv"],
                             accept_multiple_files=True, key="reconcile_files")
    if not files:
        return
    lines = []
    for f in files:
        try:
            lines += parse_invoice(f.name, f.getvalue())
        except InvoiceError as exc:
            st.error(str(exc), icon=":material/error:")
            return
    measured = fetch("month", f"the {month} close by provider and model", month=month, tz=tz, by="provider,model")
    body = reconcile(month, tz, lines, measured["rows"])
    total = body["total"]
    a, b, c, d = st.columns(4)
    a.metric("Invoice", money_text(total["invoice_usd"]), help=f"Exact: ${total['invoice_usd']}")
    b.metric("tierscope", money_text(total["tierscope_usd"]), help=f"Exact: ${total['tierscope_usd']}")
    c.metric("Difference", money_text(total["difference_usd"]), help="Invoice − tierscope: untracked spend if positive")
    d.metric("Coverage", "—" if total["coverage"] is None else f"{float(total['coverage']):.1%}",
             help="tierscope / invoice")
    for x in body["ambiguous"]:
        st.warning(f"Ambiguous ({x['provider']}): billed {', '.join(x['invoice_models'])} vs measured "
                   f"{', '.join(x['tierscope_models'])}; not matched, shown as separate rows.")
    st.dataframe(reconcile_display(body), hide_index=True, width="stretch", key="reconcile_table")
