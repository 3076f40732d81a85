"""The policy a ``Router`` routes by: the file ``tierscope recommend`` writes, read without the collector.

Accepted shapes (YAML or JSON, or the same as a dict)::

    schema: tierscope.policy/v1        # as written by `tierscope recommend --format yaml|json`
    version: 7
    routes:
    - {role: formatter, model: gpt-4o-mini, tier: small, current_model: gpt-4o, pinned: false, ...}
    models:                            # optional, as in the routing-policy file: escalation targets
      mid: [gpt-4o-mini]
      frontier: [{model: gpt-4o, provider: openai}]

``routes`` may also be a plain ``{role: model}`` mapping. Route fields other than role, model,
tier, current_model, pinned and canary (``{model, share}``, as the collector's GET /api/v1/policy
serves it) are ignored here. Parsing is strict
about what the router uses, so a typo fails when the router is created or the file is reloaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .conventions import TIERS
from tierscope.errors import PolicyError

__all__ = ["RouterPolicy", "RoutePlan", "load_router_policy", "parse_router_policy"]

SCHEMA = "tierscope.policy/v1"


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Where the policy sends one role: ``model`` (of ``tier``, if known); ``current_model`` is
    what the role used when the policy was made; a ``pinned`` role is never explored. A canary
    (served by the collector) sends ``canary_share`` of the role's calls to ``canary_model``."""

    model: str
    tier: str = ""
    current_model: str = ""
    pinned: bool = False
    canary_model: str = ""
    canary_share: float = 0.0


@dataclass(frozen=True)
class RouterPolicy:
    """Routes by role, declared models by name -> (tier, provider), and a version for the spans."""

    version: str
    routes: Mapping[str, RoutePlan]
    models: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def load_router_policy(path: str | Path) -> RouterPolicy:
    """Read and parse the policy file at ``path`` (``OSError`` if unreadable, ``PolicyError`` if bad)."""
    raw = Path(path).read_bytes()
    text = raw.decode("utf-8", errors="strict")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise PolicyError(f"{path}: not JSON ({error})") from None
    else:
        import yaml  # only for YAML files; tierscope depends on PyYAML

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise PolicyError(f"{path}: not YAML ({str(error).splitlines()[0]})") from None
    return parse_router_policy(data, default_version="sha256:" + hashlib.sha256(raw).hexdigest()[:12], where=str(path))


def parse_router_policy(data: Any, *, default_version: str = "", where: str = "policy") -> RouterPolicy:
    """A ``RouterPolicy`` from a parsed policy document (see the module docstring)."""
    if not isinstance(data, Mapping):
        raise PolicyError(f"{where}: a policy is a mapping with routes")
    schema = data.get("schema")
    if schema is not None and schema != SCHEMA:
        raise PolicyError(f"{where}: schema must be {SCHEMA!r}, got {schema!r}")
    routes = data.get("routes")
    if isinstance(routes, Mapping):
        plans = {str(role): RoutePlan(model=_name(model, f"{where}: routes.{role}")) for role, model in routes.items()}
    elif isinstance(routes, list):
        plans = dict(_route(entry, f"{where}: routes[{i}]") for i, entry in enumerate(routes))
    else:
        raise PolicyError(f"{where}: routes must be a list of {{role, model}} or a role -> model mapping")
    version = data.get("version")
    return RouterPolicy(
        version=default_version if version is None or version == "" else str(version),
        routes=plans,
        models=_models(data.get("models") or {}, f"{where}: models"),
    )


def _route(entry: Any, where: str) -> tuple[str, RoutePlan]:
    if not isinstance(entry, Mapping):
        raise PolicyError(f"{where} must be a mapping with role and model")
    tier = entry.get("tier") or ""
    if tier and tier not in TIERS:
        raise PolicyError(f"{where}: unknown tier {tier!r}; tiers are {', '.join(TIERS)}")
    canary = entry.get("canary") or {}
    if not isinstance(canary, Mapping):
        raise PolicyError(f"{where}.canary must be a mapping with model and share")
    share = canary.get("share", 0.0) if canary else 0.0
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise PolicyError(f"{where}.canary.share must be a number in [0, 1], got {share!r}")
    return _name(entry.get("role"), f"{where}.role"), RoutePlan(
        model=_name(entry.get("model"), f"{where}.model"),
        tier=str(tier),
        current_model=str(entry.get("current_model") or ""),
        pinned=entry.get("pinned") is True,
        canary_model=_name(canary.get("model"), f"{where}.canary.model") if canary else "",
        canary_share=float(share),
    )


def _models(doc: Any, where: str) -> dict[str, tuple[str, str]]:
    if not isinstance(doc, Mapping):
        raise PolicyError(f"{where} must map tiers to lists of models")
    out: dict[str, tuple[str, str]] = {}
    for tier, entries in doc.items():
        if tier not in TIERS:
            raise PolicyError(f"{where}: unknown tier {tier!r}; tiers are {', '.join(TIERS)}")
        for item in entries if isinstance(entries, list) else [entries]:
            if isinstance(item, Mapping):
                out[_name(item.get("model"), f"{where}.{tier}")] = (str(tier), str(item.get("provider") or ""))
            else:
                out[_name(item, f"{where}.{tier}")] = (str(tier), "")
    return out


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where} must be a non-empty string, got {value!r}")
    return value
