"""Paired cost + quality alerts: pure rule checking and state transitions.

"A cost alert with no quality alert teaches your router to get cheap and dumb; a quality alert
with no cost alert teaches it to get expensive and safe." So a rule always arms both sides over one
scope and window: a cost ceiling (dollars per window, or percent over a baseline window) and a
quality floor (mean score or pass rate, with a minimum sample count). A rule with one side is
refused. Each side fires once when it breaches and resolves once when it recovers.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from tierscope.errors import RuleError

SIDES = ("cost", "quality")
METRICS = ("mean", "pass_rate")
PASS_THRESHOLD = 0.5  # a scored call "passes" at quality >= 0.5
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class AlertRule:
    rule_id: str
    name: str
    quality_floor: float
    window_seconds: int = 3600
    cost_ceiling_usd: Decimal | None = None
    cost_pct_over_baseline: float | None = None
    baseline_seconds: int = 7 * 86400
    quality_metric: str = "mean"
    min_samples: int = 20
    role: str = ""
    tier: str = ""
    model: str = ""
    team: str = ""
    webhooks: tuple[str, ...] = ()
    armed: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertRule:
        """Validate API/CLI input. Both sides are required."""
        if not isinstance(data, dict):
            raise RuleError("a rule must be a JSON object")
        has_cost = data.get("cost_ceiling_usd") not in (None, "") or data.get("cost_pct_over_baseline") not in (None, "")
        has_quality = data.get("quality_floor") not in (None, "")
        if not (has_cost and has_quality):
            missing = "a cost side (cost_ceiling_usd or cost_pct_over_baseline)" if not has_cost else "a quality side (quality_floor)"
            raise RuleError(f"a rule must arm both sides: it has no {missing}. One-sided alerts teach a router "
                            "to get cheap and dumb, or expensive and safe")
        rule_id = str(data.get("rule_id") or uuid.uuid4().hex[:12])
        if not _ID.match(rule_id):
            raise RuleError("rule_id may use letters, digits, '.', '_' and '-' (at most 64)")
        try:
            ceiling = None if data.get("cost_ceiling_usd") in (None, "") else Decimal(str(data["cost_ceiling_usd"]))
            pct = None if data.get("cost_pct_over_baseline") in (None, "") else float(data["cost_pct_over_baseline"])
            floor = float(data["quality_floor"])
            window = int(data.get("window_seconds", 3600))
            baseline = int(data.get("baseline_seconds", 7 * 86400))
            min_samples = int(data.get("min_samples", 20))
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise RuleError(f"a numeric field is malformed: {exc}") from None
        if ceiling is not None and (not ceiling.is_finite() or ceiling < 0):
            raise RuleError("cost_ceiling_usd must be a non-negative amount")
        if pct is not None and not 0 <= pct <= 100_000:
            raise RuleError("cost_pct_over_baseline must be between 0 and 100000")
        if not 0.0 <= floor <= 1.0:
            raise RuleError("quality_floor must be in [0, 1]")
        if not 60 <= window <= 90 * 86400 or not 60 <= baseline <= 365 * 86400:
            raise RuleError("window_seconds and baseline_seconds must be between a minute and 90/365 days")
        if not 1 <= min_samples <= 1_000_000:
            raise RuleError("min_samples must be between 1 and 1000000")
        metric = str(data.get("quality_metric", "mean"))
        if metric not in METRICS:
            raise RuleError(f"quality_metric must be one of {', '.join(METRICS)}")
        hooks = data.get("webhooks") or ()
        if isinstance(hooks, str):
            hooks = [h for h in hooks.split(",") if h]
        if not all(isinstance(h, str) and h.startswith(("http://", "https://")) for h in hooks):
            raise RuleError("webhooks must be http(s) URLs")
        return cls(rule_id=rule_id, name=str(data.get("name") or rule_id)[:200], quality_floor=floor,
                   window_seconds=window, cost_ceiling_usd=ceiling, cost_pct_over_baseline=pct,
                   baseline_seconds=baseline, quality_metric=metric, min_samples=min_samples,
                   role=str(data.get("role", ""))[:1024], tier=str(data.get("tier", ""))[:64],
                   model=str(data.get("model", ""))[:1024], team=str(data.get("team", ""))[:1024],
                   webhooks=tuple(hooks), armed=bool(data.get("armed", True)))

    def scope(self) -> dict[str, str]:
        return {k: v for k, v in (("role", self.role), ("tier", self.tier), ("model", self.model),
                                  ("team", self.team)) if v}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cost_ceiling_usd"] = None if self.cost_ceiling_usd is None else format(self.cost_ceiling_usd.normalize(), "f")
        out["webhooks"] = list(self.webhooks)
        return out


@dataclass(frozen=True)
class Observation:
    """What the rule's scope did in its window (and, for percent rules, the baseline before it)."""

    spans: int
    cost_usd: Decimal
    quality_mean: float | None
    pass_rate: float | None
    quality_n: int
    baseline_cost_usd: Decimal | None = None  # over baseline_seconds, before the window


@dataclass(frozen=True)
class SideCheck:
    side: str
    breached: bool | None  # None: not enough evidence to say
    observed: float | None
    threshold: float | None
    samples: int


@dataclass(frozen=True)
class Transition:
    side: str
    kind: str  # "fired" or "resolved"
    check: SideCheck = field(compare=False)


def cost_threshold(rule: AlertRule, baseline_cost: Decimal | None) -> Decimal | None:
    """The tighter of the absolute ceiling and baseline-rate x (1 + pct)."""
    limits = []
    if rule.cost_ceiling_usd is not None:
        limits.append(rule.cost_ceiling_usd)
    if rule.cost_pct_over_baseline is not None and baseline_cost:
        per_window = baseline_cost * Decimal(rule.window_seconds) / Decimal(rule.baseline_seconds)
        limits.append(per_window * (1 + Decimal(str(rule.cost_pct_over_baseline)) / 100))
    return min(limits) if limits else None


def check(rule: AlertRule, obs: Observation) -> tuple[SideCheck, SideCheck]:
    limit = cost_threshold(rule, obs.baseline_cost_usd)
    cost = SideCheck("cost", None if limit is None else obs.cost_usd > limit, float(obs.cost_usd),
                     None if limit is None else float(limit), obs.spans)
    value = obs.quality_mean if rule.quality_metric == "mean" else obs.pass_rate
    enough = obs.quality_n >= rule.min_samples and value is not None
    quality = SideCheck("quality", (value < rule.quality_floor) if enough else None, value, rule.quality_floor,
                        obs.quality_n)
    return cost, quality


def transitions(checks: tuple[SideCheck, ...], state: dict[str, str]) -> list[Transition]:
    """Edges only: a side fires when it newly breaches, resolves when it newly recovers.
    Without enough evidence a side keeps its state."""
    out = []
    for c in checks:
        firing = state.get(c.side) == "fired"
        if c.breached is True and not firing:
            out.append(Transition(c.side, "fired", c))
        elif c.breached is False and firing:
            out.append(Transition(c.side, "resolved", c))
    return out


def message(rule: AlertRule, t: Transition) -> str:
    scope = ", ".join(f"{k}={v}" for k, v in rule.scope().items()) or "everything"
    c = t.check
    if t.side == "cost":
        what = f"spend ${c.observed:,.4f} vs ceiling ${c.threshold:,.4f}"
    else:
        what = f"quality {rule.quality_metric} {c.observed:.3f} vs floor {c.threshold:.3f} (n={c.samples})"
    return f"[tierscope] {t.side} alert {t.kind.upper()}: {rule.name} ({scope}, {rule.window_seconds}s window): {what}"
