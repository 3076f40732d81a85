"""Latency SLOs in the routing decision: which arms break a role's SLO, and what a route says about it.

A role's SLO (``latency_p95_ms`` in the routing policy file) bounds the 95th percentile of its
span durations. It is the second step of the recommender's cascade (pins, latency SLO, quality,
cost): an arm over the SLO is taken out of the role's choices (``RoutingBandit.exclude_for_latency``)
unless nothing the role may use meets it; such a route is kept and flagged ``breaks_slo``.

An arm's percentiles are judged only on ``min_evidence`` timed calls (spans whose end is after
their start): with fewer, its latency is unknown. Under an SLO a role does not move onto an arm of
unknown latency (it is excluded like a slow one, with its own reason), but it is not moved off its
current model for it either: unknown is not a breach.

Pure: ``ArmStats`` rows and SLOs in, reasons and JSON-ready dicts out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tierscope.collector.recommender.types import ArmStats


def ms_text(value: float) -> str:
    return f"{value:,.0f} ms"


def slo_state(arm: ArmStats, slo_ms: float | None, min_evidence: int) -> str | None:
    """``met``, ``broken`` or ``unknown`` (fewer than ``min_evidence`` timed calls); None without an SLO."""
    if slo_ms is None:
        return None
    if arm.p95_ms is None or arm.timed_calls < min_evidence:
        return "unknown"
    return "broken" if arm.p95_ms > slo_ms else "met"


def exclusion(arm: ArmStats, slo_ms: float | None, current: bool, min_evidence: int) -> str:
    """Why the SLO takes ``arm`` out of its role's choices ('' when it does not)."""
    state = slo_state(arm, slo_ms, min_evidence)
    if state == "broken":
        return f"{arm.model} p95 {ms_text(arm.p95_ms or 0)} > SLO {ms_text(slo_ms or 0)}"
    if state == "unknown" and not current:
        return f"{arm.model} latency unknown: {arm.timed_calls} timed calls < {min_evidence}"
    return ""


def route_latency(arms: Sequence[ArmStats], model: str, current: str, pinned: bool, slo_ms: float | None,
                  min_evidence: int) -> tuple[dict[str, Any], str]:
    """A route's latency, JSON-ready: the SLO, the chosen and current models' percentiles, the arms
    the SLO excluded and why, and whether the chosen (``breaks_slo``) or current route breaks it;
    with what the route's reason adds for it."""
    by_model = {arm.model: arm for arm in arms}
    chosen, today = by_model[model], by_model[current]
    kept = exclusion(chosen, slo_ms, model == current, min_evidence)
    # The SLO step applied unless the chosen arm is one it excludes: then nothing else was left.
    excluded = [] if kept or pinned else [
        {"model": arm.model, "reason": why} for arm in arms
        if arm.model != model and (why := exclusion(arm, slo_ms, arm.model == current, min_evidence))]
    latency = {
        "slo_p95_ms": slo_ms,
        "p50_ms": chosen.p50_ms, "p95_ms": chosen.p95_ms, "timed_calls": chosen.timed_calls,
        "breaks_slo": slo_state(chosen, slo_ms, min_evidence) == "broken",
        "current_p95_ms": today.p95_ms,
        "current_breaks_slo": slo_state(today, slo_ms, min_evidence) == "broken",
        "excluded": excluded,
    }
    if kept:
        why = "pinned" if pinned else "no eligible model meets it"
        return latency, f"; kept over the latency SLO ({why}): {kept}"
    if excluded:
        return latency, "; excluded for latency: " + ", ".join(e["reason"] for e in excluded)
    return latency, ""


def arm_latency(stats: Sequence[ArmStats], slos: Mapping[str, float], min_evidence: int) -> list[dict[str, Any]]:
    """Per (role, model): timed calls, p50 and p95 in ms, the role's SLO and the arm's ``slo_state``."""
    return [{"role": arm.role, "model": arm.model, "tier": arm.tier, "timed_calls": arm.timed_calls,
             "p50_ms": arm.p50_ms, "p95_ms": arm.p95_ms, "slo_p95_ms": slos.get(arm.role),
             "slo_state": slo_state(arm, slos.get(arm.role), min_evidence)}
            for arm in sorted(stats, key=lambda a: (a.role, a.model))]
