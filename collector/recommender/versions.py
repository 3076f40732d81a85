"""Published routing-policy versions: publish, promote, roll back, and the document routers follow.

A version is a routing policy (``tierscope.policy/v1``: role -> model routes) with what produced
it (``source``: cli, recommendation, rollback...), why (``reason``), when, and its parent (the live
version when it was published). The first version goes live at once; a later one starts as a
**canary** on ``canary_share`` of each changed role's calls, then is promoted (it becomes live, the
old live one is superseded) or rolled back (the live one stays). Rolling back a live version
publishes its parent's routes again as a new live version. A state change is a new row of the
same version (``policy_versions`` keeps the latest by ``updated_at``).

``served`` turns the live version and the canary into the one document routers fetch: the live
routes, and on each role the canary changed, ``canary: {model, share, version}``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from tierscope.collector.store.clickhouse import Store
from tierscope.errors import PolicyError
from tierscope.instrumentation._router_policy import SCHEMA, parse_router_policy

LIVE, CANARY, SUPERSEDED, ROLLED_BACK = "live", "canary", "superseded", "rolled_back"
_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class PolicyVersion:
    """One published version in its latest state; ``document`` is the policy as published."""

    version: int
    created_at: datetime
    source: str
    reason: str
    parent: int
    canary_share: float
    changed_roles: tuple[str, ...]
    document: dict[str, Any]
    status: str
    status_reason: str
    updated_at: datetime

    def model_for(self, role: str) -> str | None:
        return routes_of(self.document).get(role)

    def describe(self) -> dict[str, Any]:
        """JSON-ready, without the document's bulk: the routes as role -> model."""
        return {"version": self.version, "status": self.status, "status_reason": self.status_reason,
                "source": self.source, "reason": self.reason, "parent": self.parent or None,
                "canary_share": self.canary_share, "changed_roles": list(self.changed_roles),
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
                "routes": routes_of(self.document)}


def routes_of(document: Mapping[str, Any]) -> dict[str, str]:
    """role -> model of a policy document (list or mapping routes), validated as a router reads it."""
    return {role: plan.model for role, plan in parse_router_policy(document, where="policy").routes.items()}


def load(store: Store, tenant: str) -> list[PolicyVersion]:
    """Every version of ``tenant``, newest first."""
    return [_from_row(row) for row in store.query("policy_versions", {"tenant": tenant})]


def live_and_canary(versions: list[PolicyVersion]) -> tuple[PolicyVersion | None, PolicyVersion | None]:
    live = next((v for v in versions if v.status == LIVE), None)
    canary = next((v for v in versions if v.status == CANARY), None)
    return live, canary


def publish(store: Store, tenant: str, document: Any, *, source: str, reason: str, canary_share: float,
            now: datetime) -> PolicyVersion:
    """A new version of ``document``: live if it is the first (or changes nothing), else a canary.

    Raises ``PolicyError`` on a document a router could not follow, a share outside (0, 1], or
    while another canary runs (promote or roll it back first).
    """
    if not isinstance(document, Mapping):
        raise PolicyError("a policy document is a mapping with routes")
    routes = routes_of(document)
    if not 0.0 < canary_share <= 1.0:
        raise PolicyError("canary_share must be in (0, 1]")
    versions = load(store, tenant)
    live, canary = live_and_canary(versions)
    if canary is not None:
        raise PolicyError(f"version {canary.version} is still a canary: promote or roll it back first")
    changed = tuple(sorted(r for r, m in routes.items() if live is None or live.model_for(r) != m))
    status = CANARY if live is not None and changed else LIVE
    version = PolicyVersion(
        version=max((v.version for v in versions), default=0) + 1, created_at=now, source=source, reason=reason,
        parent=live.version if live else 0, canary_share=canary_share if status == CANARY else 0.0,
        changed_roles=changed, document={**dict(document), "schema": SCHEMA}, status=status,
        status_reason="first version" if live is None else "canary" if changed else "no route changed",
        updated_at=now)
    if status == LIVE and live is not None:
        _save(store, tenant, replace(live, status=SUPERSEDED, status_reason=f"replaced by {version.version}",
                                     updated_at=now))
    _save(store, tenant, version)
    return version


def promote(store: Store, tenant: str, *, reason: str, now: datetime) -> PolicyVersion:
    """The canary becomes live; the live version is superseded. ``PolicyError`` if no canary runs."""
    live, canary = live_and_canary(load(store, tenant))
    if canary is None:
        raise PolicyError("no canary to promote")
    if live is not None:
        _save(store, tenant, replace(live, status=SUPERSEDED, status_reason=f"promoted {canary.version}",
                                     updated_at=now))
    promoted = replace(canary, status=LIVE, status_reason=reason, updated_at=now)
    _save(store, tenant, promoted)
    return promoted


def rollback(store: Store, tenant: str, *, reason: str, now: datetime) -> dict[str, Any]:
    """Roll back the canary (the live version stays), else the live version (its parent's routes
    are published again as a new live version). ``PolicyError`` when there is nothing to go back to."""
    versions = load(store, tenant)
    live, canary = live_and_canary(versions)
    if canary is not None:
        _save(store, tenant, replace(canary, status=ROLLED_BACK, status_reason=reason, updated_at=now))
        return {"rolled_back": canary.version, "live": live.version if live else None}
    parent = next((v for v in versions if live is not None and v.version == live.parent), None)
    if live is None or parent is None:
        raise PolicyError("nothing to roll back to: the live version has no parent")
    _save(store, tenant, replace(live, status=ROLLED_BACK, status_reason=reason, updated_at=now))
    restored = PolicyVersion(
        version=max(v.version for v in versions) + 1, created_at=now, source="rollback",
        reason=f"routes of {parent.version} again: {reason}", parent=parent.version, canary_share=0.0,
        changed_roles=tuple(sorted(live.changed_roles)), document=parent.document, status=LIVE,
        status_reason=f"rollback of {live.version}", updated_at=now)
    _save(store, tenant, restored)
    return {"rolled_back": live.version, "live": restored.version}


def served(versions: list[PolicyVersion]) -> tuple[dict[str, Any] | None, str]:
    """The document routers follow (``None`` before any publish) and its ETag."""
    live, canary = live_and_canary(versions)
    if live is None:
        return None, '"none"'
    routes = []
    for route in _route_list(live.document):
        if canary is not None and route["role"] in canary.changed_roles:
            route = {**route, "canary": {"model": canary.model_for(route["role"]), "share": canary.canary_share,
                                         "version": str(canary.version)}}
        routes.append(route)
    known = {r["role"] for r in routes}
    for role in canary.changed_roles if canary else ():
        if role not in known:  # a role the live version does not route: the canary's model, all of it
            routes.append({"role": role, "model": canary.model_for(role)})
    document = {"schema": SCHEMA, "version": str(live.version) + (f"+canary.{canary.version}" if canary else ""),
                "routes": routes, "models": live.document.get("models") or {}}
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]
    return document, f'"{digest}"'


def _route_list(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    routes = document.get("routes")
    if isinstance(routes, Mapping):
        return [{"role": str(role), "model": str(model)} for role, model in routes.items()]
    keep = ("role", "model", "tier", "current_model", "pinned")
    return [{k: r[k] for k in keep if k in r} for r in routes or []]


def _save(store: Store, tenant: str, v: PolicyVersion) -> None:
    micros = lambda t: int(t.timestamp() * 1_000_000)  # noqa: E731
    store.insert("policy_versions", pa.table({
        "tenant": [tenant], "version": pa.array([v.version], pa.uint32()),
        "created_at": pa.array([micros(v.created_at)], _TS), "source": [v.source], "reason": [v.reason],
        "parent": pa.array([v.parent], pa.uint32()), "canary_share": pa.array([v.canary_share], pa.float64()),
        "changed_roles": pa.array([list(v.changed_roles)], pa.list_(pa.string())),
        "document": [json.dumps(v.document, sort_keys=True, default=str)], "status": [v.status],
        "status_reason": [v.status_reason],
        # a state change must sort after the row it replaces even within one microsecond
        "updated_at": pa.array([max(micros(v.updated_at), time.time_ns() // 1000)], _TS),
    }))


def _from_row(row: Mapping[str, Any]) -> PolicyVersion:
    def stamp(value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    return PolicyVersion(
        version=int(row["version"]), created_at=stamp(row["created_at"]), source=row["source"], reason=row["reason"],
        parent=int(row["parent"]), canary_share=float(row["canary_share"]),
        changed_roles=tuple(row["changed_roles"]), document=json.loads(row["document"]), status=row["status"],
        status_reason=row["status_reason"], updated_at=stamp(row["updated_at"]))
