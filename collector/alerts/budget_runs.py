"""Monthly budgets against the store: saving and removing them, each one's month-to-date spend and
forecast (`budget_status`), and the evaluation the alert runner does every round (`evaluate`).

A notice is sent once per budget, month, kind and threshold, across restarts and several
collectors sharing the store: before sending, a collector writes a claim unless one exists
(`budget_notice_claim`, stamped with the server's clock) and sends only if its claim is the
earliest (`budget_notice_winner`). A collector that restarts finds the claims and owes nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pyarrow as pa

from tierscope import clock
from tierscope.collector.alerts.budgets import DAY, Budget, Notice, complete_days, forecast, notice_text, owed
from tierscope.collector.read.months import month_bounds
from tierscope.collector.read.params import scope
from tierscope.collector.read.rows import money
from tierscope.collector.read.spend import spend_by, spend_timeseries
from tierscope.collector.store.clickhouse import Store

log = logging.getLogger(__name__)
_TS = pa.timestamp("us", tz="UTC")


class Sender(Protocol):
    def send(self, url: str, payload: dict[str, Any]) -> None: ...


def save_budget(store: Store, tenant: str, budget: Budget, deleted: bool = False) -> None:
    store.insert("budgets", pa.table({
        "tenant": [tenant], "budget_id": [budget.budget_id], "kind": [budget.kind], "value": [budget.value],
        "monthly_usd": pa.array([budget.monthly_usd], pa.decimal128(38, 18)),
        "notify_at": pa.array([list(budget.notify_at)], pa.list_(pa.uint16())),
        "webhooks": pa.array([list(budget.webhooks)], pa.list_(pa.string())),
        "tz": [budget.tz], "deleted": [deleted], "updated_at": pa.array([time.time_ns() // 1000], _TS),
    }))


def budget_from_row(row: dict[str, Any]) -> Budget:
    return Budget(row["kind"], row["value"], Decimal(money(row["monthly_usd"])), tuple(row["notify_at"]),
                  tuple(row["webhooks"]), row["tz"], row["budget_id"])


def budgets(store: Store, tenant: str) -> list[Budget]:
    """The tenant's budgets, removed ones left out."""
    return [budget_from_row(r) for r in store.query("budgets", {"tenant": tenant})]


def current_month(now: datetime, tz: str) -> str:
    return now.astimezone(ZoneInfo(tz)).strftime("%Y-%m")


def _scope_spend(store: Store, tenant: str, budget: Budget, since: datetime, until: datetime) -> dict[str, Any]:
    """Spend, calls and unpriced calls of the budget's scope in [since, until)."""
    empty = {"cost_usd": Decimal(0), "spans": 0, "unpriced_spans": 0, "unpriced_tokens": 0}
    if since >= until:
        return empty
    by = [] if budget.kind == "total" else [budget.kind]
    rows = spend_by(store, {**scope({}, tenant), "since": since, "until": until, "by": by})
    match = [r for r in rows if budget.kind == "total" or r[f"g_{budget.kind}"] == budget.value]
    return {**empty, **{k: match[0][k] for k in empty}} if match else empty


def _daily(store: Store, tenant: str, budget: Budget, days: list[datetime]) -> list[Decimal]:
    """The scope's spend on each of `days` (local midnights), 0 for a day without any."""
    if not days:
        return []
    until = (days[-1].replace(tzinfo=None) + DAY).replace(tzinfo=days[-1].tzinfo)
    q = {"since": days[0].astimezone(UTC).isoformat(), "until": until.astimezone(UTC).isoformat(),
         "split": "" if budget.kind == "total" else budget.kind, "bucket": "day", "tz": budget.tz}
    zone = ZoneInfo(budget.tz)
    per_day: dict[Any, Decimal] = {}
    for r in spend_timeseries(store, q, tenant)["rows"]:
        if budget.kind == "total" or r.get("series") == budget.value:
            day = datetime.fromisoformat(r["bucket"]).astimezone(zone).date()
            per_day[day] = per_day.get(day, Decimal(0)) + Decimal(r["cost_usd"])
    return [per_day.get(d.date(), Decimal(0)) for d in days]


def budget_status(store: Store, tenant: str, budget: Budget, month: str | None = None,
                  now: datetime | None = None) -> dict[str, Any]:
    """The budget's month (the one `now` is in, in its time zone, unless named): spend to date,
    the forecast and its interval, the shares of the budget, and the unpriced calls beside."""
    now = now or clock.now()
    month = month or current_month(now, budget.tz)
    since, until = month_bounds(month, budget.tz)
    cut = min(max(now, since), until)
    spent = _scope_spend(store, tenant, budget, since, cut)
    cost = spent["cost_usd"]
    days = complete_days(since, cut, budget.tz) if now < until else []
    outlook = forecast(cost, _daily(store, tenant, budget, days) if len(days) >= 2 else [], since, until, now)
    return {
        **budget.to_dict(), "month": month, "since": since.isoformat(), "until": until.isoformat(),
        "spent_usd": money(cost), "spans": int(spent["spans"]),
        "unpriced_spans": int(spent["unpriced_spans"]), "unpriced_tokens": int(spent["unpriced_tokens"]),
        "used": float(cost / budget.monthly_usd),
        "forecast_usd": money(outlook.point), "forecast_low_usd": _money(outlook.low),
        "forecast_high_usd": _money(outlook.high), "forecast_used": float(outlook.point / budget.monthly_usd),
        "complete": now >= until,
    }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else money(value)


def claim(store: Store, tenant: str, budget: Budget, month: str, notice: Notice, detail: str) -> str | None:
    """Claim the notice; its claim id if this claim won (send it), else None (someone else did)."""
    key = {"tenant": tenant, "budget_id": budget.budget_id, "month": month, "kind": notice.kind,
           "threshold": notice.threshold}
    mine = uuid.uuid4().hex
    store.execute("budget_notice_claim", {**key, "claim_id": mine, "observed_usd": notice.observed_usd,
                                          "detail": detail})
    winner = store.query("budget_notice_winner", key)
    return mine if winner and winner[0]["claim_id"] == mine else None


def evaluate(store: Store, sender: Sender, now: datetime | None = None) -> list[dict[str, Any]]:
    """One round over every tenant's budgets: claim and send each notice owed and not yet sent.
    Returns the payloads this collector sent."""
    now = now or clock.now()
    sent: list[dict[str, Any]] = []
    claimed: dict[tuple[str, str], set[tuple[str, str, int]]] = {}
    for row in store.query("budgets", {"tenant": ""}):
        tenant, budget = row["tenant"], budget_from_row(row)
        status = budget_status(store, tenant, budget, now=now)
        month = status["month"]
        if (tenant, month) not in claimed:
            claimed[(tenant, month)] = {(r["budget_id"], r["kind"], r["threshold"])
                                        for r in store.query("budget_notices", {"tenant": tenant, "month": month})}
        spent = Decimal(status["spent_usd"])
        for notice in owed(budget, spent, Decimal(status["forecast_usd"])):
            if (budget.budget_id, notice.kind, notice.threshold) in claimed[(tenant, month)]:
                continue
            text = notice_text(budget, month, notice, spent)
            claim_id = claim(store, tenant, budget, month, notice, text)
            if claim_id is None:
                continue
            payload = {"event_id": claim_id, "kind": f"budget_{notice.kind}", "tenant": tenant, "month": month,
                       "threshold": notice.threshold, "text": text, "budget": status}
            for url in budget.webhooks:
                sender.send(url, payload)
            sent.append(payload)
    return sent
