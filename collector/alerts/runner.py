"""The alert evaluator running headless inside the collector, its store I/O and its webhooks.

Every `interval` seconds each armed rule's window is queried, both sides checked, and edges
(fired/resolved) stored as events and delivered once to each webhook (generic JSON, or Slack's
`{"text": ...}` for Slack URLs), with retries and backoff on a separate thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pyarrow as pa

from tierscope import clock
from tierscope.collector.alerts import budget_runs
from tierscope.collector.alerts.rules import PASS_THRESHOLD, AlertRule, Observation, check, message, transitions
from tierscope.collector.store.clickhouse import Store
from tierscope.collector.store.loop import Loop

log = logging.getLogger(__name__)
_TS = pa.timestamp("us", tz="UTC")


def rule_from_row(row: dict[str, Any]) -> AlertRule:
    return AlertRule(
        rule_id=row["rule_id"], name=row["name"], quality_floor=row["quality_floor"],
        window_seconds=row["window_seconds"], cost_ceiling_usd=row["cost_ceiling_usd"],
        cost_pct_over_baseline=row["cost_pct_over_baseline"], baseline_seconds=row["baseline_seconds"],
        quality_metric=row["quality_metric"], min_samples=row["min_samples"], role=row["role"],
        tier=row["tier"], model=row["model"], team=row["team"], webhooks=tuple(row["webhooks"]),
        armed=bool(row["armed"]))


def save_rule(store: Store, tenant: str, rule: AlertRule) -> None:
    d = rule.to_dict()
    table = pa.table({
        "tenant": [tenant],
        **{k: [d[k]] for k in ("rule_id", "name", "role", "tier", "model", "team", "quality_metric", "armed")},
        "window_seconds": pa.array([rule.window_seconds], pa.uint32()),
        "cost_ceiling_usd": pa.array([rule.cost_ceiling_usd], pa.decimal128(38, 18)),
        "cost_pct_over_baseline": pa.array([rule.cost_pct_over_baseline], pa.float64()),
        "baseline_seconds": pa.array([rule.baseline_seconds], pa.uint32()),
        "quality_floor": pa.array([rule.quality_floor], pa.float64()),
        "min_samples": pa.array([rule.min_samples], pa.uint32()),
        "webhooks": pa.array([list(rule.webhooks)], pa.list_(pa.string())),
        "updated_at": pa.array([time.time_ns() // 1000], _TS),
    })
    store.insert("alert_rules", table)


_EVENT_TYPES = {"tenant": pa.string(), "event_id": pa.string(), "rule_id": pa.string(), "at": _TS,
                "kind": pa.string(), "side": pa.string(), "observed": pa.float64(), "threshold": pa.float64(),
                "samples": pa.uint64(), "window_start": _TS, "window_end": _TS, "detail": pa.string()}


def save_events(store: Store, events: list[dict[str, Any]]) -> None:
    if not events:
        return
    columns = {}
    for name, kind in _EVENT_TYPES.items():
        values = [e[name] for e in events]
        if kind == _TS:
            values = [int(v.timestamp() * 1_000_000) for v in values]
        columns[name] = pa.array(values, kind)
    store.insert("alert_events", pa.table(columns))


def observe(store: Store, tenant: str, rule: AlertRule, now: datetime) -> Observation:
    def window(since: datetime, until: datetime) -> dict[str, Any]:
        params = {"tenant": tenant, "since": since, "until": until, "roles": [rule.role] if rule.role else [],
                  "teams": [rule.team] if rule.team else [], "services": [], "environments": [],
                  "tier": rule.tier, "model": rule.model, "pass_threshold": PASS_THRESHOLD}
        return store.query("alert_window", params)[0]

    start = now - timedelta(seconds=rule.window_seconds)
    current = window(start, now)
    baseline = None
    if rule.cost_pct_over_baseline is not None:
        baseline = window(start - timedelta(seconds=rule.baseline_seconds), start)["cost_usd"]
    n = int(current["quality_n"])
    return Observation(spans=int(current["spans"]), cost_usd=current["cost_usd"],
                       quality_mean=float(current["quality_mean"]) if n else None,
                       pass_rate=float(current["pass_rate"]) if n and current["pass_rate"] is not None else None,
                       quality_n=n, baseline_cost_usd=baseline)


class Notifier:
    """Delivers each event once per webhook, retrying failures with backoff, off the hot path."""

    def __init__(self, attempts: int = 5, backoff: float = 0.5, timeout: float = 5.0) -> None:
        self.attempts, self.backoff = attempts, backoff
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue = queue.Queue()
        self._http = httpx.Client(timeout=timeout)
        self._thread = threading.Thread(target=self._run, name="tierscope-webhooks", daemon=True)
        self._thread.start()

    def send(self, url: str, payload: dict[str, Any]) -> None:
        self._queue.put((url, payload))

    def drain(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def _run(self) -> None:
        while True:
            url, payload = self._queue.get()
            body = {"text": payload["text"]} if "hooks.slack.com" in url else payload
            for attempt in range(self.attempts):
                try:
                    if self._http.post(url, json=body).status_code < 300:
                        self.delivered += 1
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(self.backoff * 2**attempt)
            else:
                self.failed += 1
                log.warning("webhook %s failed %d times; giving up on %s", url, self.attempts, payload["event_id"])
            self._queue.task_done()


class AlertRunner(Loop):
    def __init__(self, store: Store, interval: float = 30.0, notifier: Notifier | None = None) -> None:
        super().__init__("tierscope-alerts")
        self.store = store
        self.interval = interval
        self.notifier = notifier or Notifier()
        self._state: dict[tuple[str, str, str], str] | None = None
        self.listeners: list = []  # called with each stored event (the recommender listens)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.evaluate_once()
            except Exception as exc:  # keep evaluating; say why this round failed
                log.warning("alert evaluation failed: %s", str(exc).splitlines()[0][:200])
            try:
                self.evaluate_budgets()
            except Exception as exc:
                log.warning("budget evaluation failed: %s", str(exc).splitlines()[0][:200])

    def evaluate_budgets(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Monthly budgets, in the same loop: each notice owed is sent once (collector.alerts.budget_runs)."""
        return budget_runs.evaluate(self.store, self.notifier, now)

    def _load_state(self) -> dict[tuple[str, str, str], str]:
        if self._state is None:
            self._state = {(r["tenant"], r["rule_id"], r["side"]): r["last_kind"]
                           for r in self.store.query("alert_state", {})}
        return self._state

    def evaluate_once(self, now: datetime | None = None) -> list[dict[str, Any]]:
        now = now or clock.now()
        state = self._load_state()
        events = []
        for row in self.store.query("alert_rules_all", {}):
            tenant, rule = row["tenant"], rule_from_row(row)
            checks = check(rule, observe(self.store, tenant, rule, now))
            sides = {side: state.get((tenant, rule.rule_id, side), "resolved") for side in ("cost", "quality")}
            for t in transitions(checks, sides):
                event = {"tenant": tenant, "event_id": uuid.uuid4().hex, "rule_id": rule.rule_id, "at": now,
                         "kind": t.kind, "side": t.side, "observed": t.check.observed,
                         "threshold": t.check.threshold, "samples": t.check.samples,
                         "window_start": now - timedelta(seconds=rule.window_seconds), "window_end": now,
                         "detail": message(rule, t)}
                events.append((rule, event))
                state[(tenant, rule.rule_id, t.side)] = t.kind
        save_events(self.store, [e for _, e in events])
        for rule, event in events:
            payload = {**{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in event.items()},
                       "text": event["detail"], "rule": rule.to_dict()}
            for url in rule.webhooks:
                self.notifier.send(url, payload)
            for listener in self.listeners:
                listener(rule, event)
        return [e for _, e in events]


def ack(store: Store, tenant: str, rule_id: str, who: str = "", now: datetime | None = None) -> dict[str, Any]:
    """Record that `who` acknowledged `rule_id` at `now` (by default the clock's)."""
    now = now or clock.now()
    event = {"tenant": tenant, "event_id": uuid.uuid4().hex, "rule_id": rule_id, "at": now, "kind": "acked",
             "side": "", "observed": None, "threshold": None, "samples": 0, "window_start": now,
             "window_end": now, "detail": f"acknowledged by {who or 'someone'}"}
    save_events(store, [event])
    return event


def decimal_str(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
