"""Read and write endpoints for paired alerts: list rules with their state and history, arm a
rule (create or replace), disarm it, acknowledge it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tierscope.collector.alerts.rules import AlertRule, RuleError
from tierscope.collector.alerts.runner import ack, rule_from_row, save_rule
from tierscope.collector.read.params import parse_int
from tierscope.collector.read.rows import jsonable
from tierscope.collector.store.clickhouse import Store


def list_alerts(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    rules = [rule_from_row(r) for r in store.query("alert_rules", {"tenant": tenant})]
    events = [jsonable(e) for e in store.query("alert_events", {
        "tenant": tenant, "rule_id": q.get("rule_id", ""), "limit": parse_int("limit", q.get("limit"), 200, 1, 10_000)})]
    state: dict[tuple[str, str], str] = {}
    for e in reversed(events):  # oldest first, so the newest edge wins
        if e["kind"] in ("fired", "resolved"):
            state[(e["rule_id"], e["side"])] = e["kind"]
    out = []
    for rule in rules:
        d = rule.to_dict()
        d["state"] = {side: state.get((rule.rule_id, side), "ok").replace("resolved", "ok")
                      for side in ("cost", "quality")}
        out.append(d)
    return {"rules": out, "events": events}


def arm(store: Store, body: Any, tenant: str) -> dict[str, Any]:
    rule = AlertRule.from_dict(body)
    save_rule(store, tenant, replace(rule, armed=True))
    return {"armed": rule.to_dict() | {"armed": True}}


def _existing(store: Store, tenant: str, rule_id: str) -> AlertRule:
    for row in store.query("alert_rules", {"tenant": tenant}):
        if row["rule_id"] == rule_id:
            return rule_from_row(row)
    raise RuleError(f"no rule {rule_id!r}")


def disarm(store: Store, rule_id: str, tenant: str) -> dict[str, Any]:
    rule = replace(_existing(store, tenant, rule_id), armed=False)
    save_rule(store, tenant, rule)
    return {"disarmed": rule.to_dict()}


def acknowledge(store: Store, rule_id: str, tenant: str, who: str = "") -> dict[str, Any]:
    _existing(store, tenant, rule_id)
    return {"acked": jsonable(ack(store, tenant, rule_id, who))}
