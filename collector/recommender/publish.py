"""The routing loop, closed by the collector: serve the policy routers follow, and act on evidence.

``reconcile`` runs before the policy is served (routers poll it every reload interval) and on
``tierscope policy status``:

- a firing quality alert paired to a route the canary (or the live version) changed -- the rule's
  (role, model) is that route -- rolls it back at once, and the rule's webhooks say so;
- a canary whose graded calls on every changed role decide (``recommender.canary.plan`` since the
  canary started: lower bound over the floor), and whose off-policy (IPS) quality estimate from the
  router-logged calls does not contradict the floor (its upper bound reaches it), is promoted; one
  whose quality does not hold (upper bound under the floor) is rolled back.

``policy_routes`` are the HTTP endpoints: ``GET /api/v1/policy`` (the served document, with an
ETag; ``If-None-Match`` gets 304), ``GET /api/v1/policy/versions`` and ``POST /api/v1/policy``
(publish), ``/api/v1/policy/promote``, ``/api/v1/policy/rollback`` and
``/api/v1/policy/recommendation`` (publish the recommendation if it clears the guards).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tierscope import clock
from tierscope.collector.alerts.api import list_alerts
from tierscope.collector.offpolicy.api import offpolicy_report
from tierscope.collector.read.params import scope
from tierscope.collector.recommender import versions as v
from tierscope.collector.recommender.api import arm_stats, recommend
from tierscope.collector.recommender.canary import Candidate, Incumbent, plan
from tierscope.collector.recommender.policy_file import load_policy
from tierscope.collector.recommender.types import BanditConfig
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import PolicyError
from tierscope.terms import DEFAULT_QUALITY_TARGET

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 5.0


def reconcile(store: Store, tenant: str, *, policy_file: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Roll back on a paired alert, else promote or roll back a canary on its evidence; what it did."""
    now = now or clock.now()
    versions = v.load(store, tenant)
    live, canary = v.live_and_canary(versions)
    changed = canary or (live if live is not None and live.parent else None)
    if changed is None:
        return []
    for rule in list_alerts(store, {}, tenant)["rules"]:
        role, model = rule["role"], rule["model"]
        if (rule["armed"] and rule["state"]["quality"] == "fired" and role in changed.changed_roles
                and changed.model_for(role) == model):
            reason = f"paired alert {rule['rule_id']} fired on {role} -> {model}"
            result = v.rollback(store, tenant, reason=reason, now=now)
            action = {"action": "rolled_back", "reason": reason, "role": role, "model": model,
                      "rule_id": rule["rule_id"], **result}
            _notify(rule["webhooks"], action, now)
            return [action]
    if canary is None:
        return []
    return _judge_canary(store, tenant, canary, live, policy_file, now)


def canary_evidence(store: Store, tenant: str, canary: v.PolicyVersion, live: v.PolicyVersion | None,
                    policy_file: str, now: datetime) -> dict[str, dict[str, Any]]:
    """Per changed role, the canary plan on the graded calls since the canary started."""
    window = {"since": canary.created_at.isoformat(), "until": now.isoformat()}
    stats = {(s.role, s.model): s for s in arm_stats(store, window, tenant)}
    routing = load_policy(policy_file)
    out = {}
    for role in canary.changed_roles:
        model, before = canary.model_for(role), live.model_for(role) if live else None
        seen, incumbent = stats.get((role, model)), stats.get((role, before))
        current = Incumbent(before or "", incumbent.n_quality if incumbent else 0,
                            incumbent.quality_sum if incumbent else 0.0,
                            incumbent.cost_per_call_usd if incumbent else None, 0)
        floor = routing.floor(role)
        if current.quality is not None:
            floor = max(floor, DEFAULT_QUALITY_TARGET * current.quality)
        candidate = Candidate(role, model or "", seen.tier if seen else "", "", "canary",
                              seen.cost_per_call_usd if seen else None,
                              seen.n_quality if seen else 0, seen.quality_sum if seen else 0.0)
        out[role] = {**plan(candidate, current, floor), "previous_model": before}
    routes = {**(v.routes_of(live.document) if live else {}), **v.routes_of(canary.document)}
    offpolicy = offpolicy_report(store, scope(window, tenant), routes)
    for role, e in out.items():
        quality = (offpolicy.get("roles") or {}).get(role, {}).get("quality") if offpolicy["status"] == "ok" else None
        e["offpolicy_quality"] = quality
        e["offpolicy_agrees"] = quality is None or quality["high"] >= e["floor"]
    return out


def _judge_canary(store: Store, tenant: str, canary: v.PolicyVersion, live: v.PolicyVersion | None,
                  policy_file: str, now: datetime) -> list[dict[str, Any]]:
    evidence = canary_evidence(store, tenant, canary, live, policy_file, now)
    states = {role: e["state"] for role, e in evidence.items()}
    agree = all(e["offpolicy_agrees"] for e in evidence.values())
    if evidence and agree and all(s == "promote" for s in states.values()):
        reason = "graded canary calls clear the floor on " + ", ".join(sorted(states))
        v.promote(store, tenant, reason=reason, now=now)
        return [{"action": "promoted", "version": canary.version, "reason": reason, "evidence": evidence}]
    failing = sorted(role for role, s in states.items() if s == "stay")
    if failing:
        reason = "canary quality did not hold on " + ", ".join(failing)
        return [{"action": "rolled_back", "reason": reason, **v.rollback(store, tenant, reason=reason, now=now)}]
    return []


def _notify(urls: list[str], action: dict[str, Any], now: datetime) -> None:
    """Tell the rule's webhooks what happened (generic JSON, or Slack's {text}); failures are logged."""
    text = (f"tierscope: routing policy {action['rolled_back']} rolled back ({action['reason']}); "
            f"routers now follow {action['live']}")
    payload = {"kind": "policy_rolled_back", "at": now.isoformat(), "text": text, **action}
    for url in urls:
        try:
            httpx.post(url, json={"text": text} if "hooks.slack.com" in url else payload, timeout=WEBHOOK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            log.warning("webhook %s failed: %s", url, exc)


def status(store: Store, tenant: str, *, policy_file: str) -> dict[str, Any]:
    """Versions (newest first), the live one, the canary with its evidence, and what reconcile did."""
    actions = reconcile(store, tenant, policy_file=policy_file)
    versions = v.load(store, tenant)
    live, canary = v.live_and_canary(versions)
    now = clock.now()
    return {"live": live.version if live else None, "canary": canary.version if canary else None,
            "evidence": canary_evidence(store, tenant, canary, live, policy_file, now) if canary else {},
            "actions": actions, "versions": [x.describe() for x in versions]}


def policy_routes(collector: Any) -> list[Route]:
    """The policy endpoints of the collector's HTTP app (see the module docstring)."""
    store, policy_file = collector.store, collector.settings.policy_file

    async def handle(request: Request) -> Response:
        try:
            tenant = collector.auth.tenant(request.headers.get("authorization"))
        except Exception as exc:  # the collector's Unauthorized; any auth failure is a 401
            return JSONResponse({"error": str(exc)}, 401)
        action = request.path_params.get("action", "")
        try:
            if not (request.method == "GET" and action == ""):
                # status and the writes judge canaries on the spans acknowledged before this call (as
                # every read does); the document routers poll is served at once from what is stored
                await run_in_threadpool(collector.flush)
            if request.method == "GET" and action == "":
                return await run_in_threadpool(_serve, store, tenant, policy_file, request.headers.get("if-none-match"))
            if request.method == "GET":
                if action != "versions":
                    return JSONResponse({"error": f"no GET /api/v1/policy/{action}"}, 404)
                return JSONResponse(await run_in_threadpool(status, store, tenant, policy_file=policy_file))
            body = json.loads(await request.body() or b"{}")
            result = await run_in_threadpool(_write, store, tenant, action, body, collector.settings)
        except (PolicyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(result)

    return [Route("/api/v1/policy", handle, methods=["GET", "POST"]),
            Route("/api/v1/policy/{action}", handle, methods=["GET", "POST"])]


def _serve(store: Store, tenant: str, policy_file: str, if_none_match: str | None) -> Response:
    reconcile(store, tenant, policy_file=policy_file)
    document, etag = v.served(v.load(store, tenant))
    if document is None:
        return JSONResponse({"error": "no routing policy published yet (tierscope policy publish)"}, 404)
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(document, headers={"ETag": etag, "Cache-Control": "no-cache"})


def from_recommendation(store: Store, tenant: str, *, policy_file: str, prices_file: str,
                        canary_share: float, quality_target: float = DEFAULT_QUALITY_TARGET,
                        confidence: float = BanditConfig.confidence) -> dict[str, Any]:
    """Publish today's recommendation as a canary if it clears the guards, else say why not.

    Guards: no canary is running; the recommendation changes a route of the live version; every
    changed route is known (no undecided canary of its own) and the recommendation's chance of
    meeting the quality target is at least ``confidence``. What a schedule (``tierscope policy
    schedule``) runs each time.
    """
    body = recommend(store, {"quality_target": str(quality_target)}, tenant, policy_file=policy_file,
                     prices_file=prices_file)
    live, canary = v.live_and_canary(v.load(store, tenant))
    why = _guard(body, live, canary, confidence)
    if why:
        return {"published": None, "why": why}
    document = {k: body[k] for k in ("schema", "version", "routes", "quality_target", "target_probability")}
    published = v.publish(store, tenant, document, source="recommendation", canary_share=canary_share,
                          reason=f"recommended; chance of meeting the target {body['target_probability']:.0%}",
                          now=clock.now())
    return {"published": published.describe(), "why": ""}


def _guard(body: dict[str, Any], live: v.PolicyVersion | None, canary: v.PolicyVersion | None,
           confidence: float) -> str:
    if body.get("policy", True) is None:
        return body.get("message", "nothing to recommend")
    if canary is not None:
        return f"version {canary.version} is still a canary"
    changed = [r for r in body["routes"] if (live.model_for(r["role"]) if live else r["current_model"]) != r["model"]]
    if not changed and live is not None:
        return "the recommendation changes no route of the live version"
    unknown = sorted(r["role"] for r in changed if r["confidence"] is None)
    if unknown:
        return "unknown yet on " + ", ".join(unknown)
    if body["target_probability"] < confidence:
        return f"chance of meeting the target {body['target_probability']:.0%} < {confidence:.0%}"
    return ""


def _write(store: Store, tenant: str, action: str, body: dict[str, Any], settings: Any) -> dict[str, Any]:
    now, reason = clock.now(), str(body.get("reason") or "")
    if action == "recommendation":
        return from_recommendation(store, tenant, policy_file=settings.policy_file, prices_file=settings.prices_file,
                                   canary_share=float(body.get("canary_share", 0.1)))
    if action == "":
        published = v.publish(store, tenant, body.get("document"), source=str(body.get("source") or "cli"),
                              reason=reason, canary_share=float(body.get("canary_share", 0.1)), now=now)
        return {"published": published.describe()}
    if action == "promote":
        return {"promoted": v.promote(store, tenant, reason=reason or "promoted by hand", now=now).describe()}
    if action == "rollback":
        return v.rollback(store, tenant, reason=reason or "rolled back by hand", now=now)
    raise PolicyError(f"unknown policy action {action!r} (promote, rollback or recommendation)")
