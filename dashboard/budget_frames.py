"""Budgets (GET budgets) as finance's table: one row per budget with the budget, the spend so far,
the forecast and its interval, and the unpriced calls beside (never folded in as $0)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tierscope.dashboard.transforms import count_text, money_text, share_text


def scope_text(b: Mapping[str, Any]) -> str:
    return "All spend" if b["kind"] == "total" else f"{b['kind']} {b['value']}"


def forecast_text(b: Mapping[str, Any]) -> str:
    if b["complete"]:
        return f"{money_text(b['forecast_usd'])} (closed)"
    if b["forecast_low_usd"] is None:
        return f"{money_text(b['forecast_usd'])} (interval after two full days)"
    return f"{money_text(b['forecast_usd'])} ({money_text(b['forecast_low_usd'])} – {money_text(b['forecast_high_usd'])})"


def budget_display(budgets: list[Mapping[str, Any]]) -> pd.DataFrame:
    """The Budgets table: scope, budget, actual, share used, forecast (90% interval), unpriced calls."""
    return pd.DataFrame([{
        "Budget id": b["budget_id"], "Scope": scope_text(b), "Month": b["month"], "Budget": money_text(b["monthly_usd"]),
        "Actual": money_text(b["spent_usd"]), "Used": share_text(b["used"]), "Forecast (90% interval)": forecast_text(b),
        "Forecast used": share_text(b["forecast_used"]), "Unpriced calls": count_text(b["unpriced_spans"]),
        "Notify at": ", ".join(f"{t}%" for t in b["notify_at"])} for b in budgets],
        columns=["Budget id", "Scope", "Month", "Budget", "Actual", "Used", "Forecast (90% interval)", "Forecast used",
                 "Unpriced calls", "Notify at"])
