"""The routing policy file: which tiers each role may use, which roles are pinned, quality floors,
latency SLOs.

A small, versioned YAML file kept in the repository next to the agents it governs::

    version: 3
    quality_floor: 0.8            # default floor on mean quality for every role
    latency_p95_ms: 8000          # optional: default latency SLO (p95 of span duration) for every role
    models:                       # optional: models declared for a tier, as routing targets
      small: [gpt-4o-mini]
      mid: [{model: claude-3-5-haiku-latest, provider: anthropic}]
    roles:
      formatter: {allowed_tiers: [small, mid], quality_floor: 0.85}
      worker: {latency_p95_ms: 2500}   # this role's own SLO, over the default
      critic: {pinned_model: gpt-4o}   # compliance pin: never flagged, never moved
      summarizer: {deadline: async}    # latency-tolerant: show what batch processing would save

A latency SLO is a bound in milliseconds on the 95th percentile of a role's span durations: the
recommender does not move a role onto a model whose observed p95 breaks it, and flags a route that
breaks it anyway (a pin, or no model left that meets it); see ``recommender.latency``.

Parsing is strict: an unknown key, tier, a floor outside [0, 1] or an SLO that is not a positive
number of milliseconds is an error that names the entry, because a typo silently ignored would make
a pinned role look misrouted (or hide a violation).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tierscope.errors import PolicyFileError
from tierscope.instrumentation.conventions import DEADLINES
from tierscope.terms import TIERS_CHEAPEST_FIRST

TIER_ORDER = TIERS_CHEAPEST_FIRST
DEFAULT_QUALITY_FLOOR = 0.8
_TOP_KEYS = {"version", "quality_floor", "latency_p95_ms", "models", "roles"}
_ROLE_KEYS = {"allowed_tiers", "pinned_model", "quality_floor", "deadline", "latency_p95_ms"}


def tier_rank(tier: str) -> int:
    """0 for local up to 3 for frontier; -1 for an unknown or empty tier."""
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else -1


@dataclass(frozen=True)
class DeclaredModel:
    model: str
    provider: str = ""


@dataclass(frozen=True)
class RolePolicy:
    allowed_tiers: tuple[str, ...] = ()
    pinned_model: str = ""
    quality_floor: float | None = None
    deadline: str = ""  # "async": latency-tolerant work (batch processing would do); "interactive" or ""
    latency_p95_ms: float | None = None

    @property
    def ceiling(self) -> str:
        """The highest tier the role may use, or '' when the policy does not restrict its tiers."""
        return max(self.allowed_tiers, key=tier_rank) if self.allowed_tiers else ""


@dataclass(frozen=True)
class RoutingPolicy:
    version: str = ""
    quality_floor: float = DEFAULT_QUALITY_FLOOR
    latency_p95_ms: float | None = None
    models: Mapping[str, tuple[DeclaredModel, ...]] = field(default_factory=dict)
    roles: Mapping[str, RolePolicy] = field(default_factory=dict)
    path: str = ""
    sha256: str = ""
    found: bool = False

    def role(self, name: str) -> RolePolicy:
        return self.roles.get(name, RolePolicy())

    def floor(self, role: str) -> float:
        own = self.role(role).quality_floor
        return self.quality_floor if own is None else own

    def latency_slo(self, role: str) -> float | None:
        """The role's p95 latency bound in milliseconds (its own, else the default), or None."""
        own = self.role(role).latency_p95_ms
        return self.latency_p95_ms if own is None else own

    def pinned(self, role: str) -> bool:
        return bool(self.role(role).pinned_model)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for reports: where the policy came from and what it pins."""
        return {
            "path": self.path, "found": self.found, "version": self.version or None,
            "sha256": self.sha256 or None, "quality_floor": self.quality_floor,
            "pinned_roles": sorted(r for r, p in self.roles.items() if p.pinned_model),
            "restricted_roles": {r: list(p.allowed_tiers) for r, p in sorted(self.roles.items()) if p.allowed_tiers},
        }


def load_policy(path: str | Path) -> RoutingPolicy:
    """Read the policy at `path`; a missing file is an empty policy (nothing restricted or pinned)."""
    file = Path(path)
    if not file.exists():
        return RoutingPolicy(path=str(path))
    raw = file.read_bytes()
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise PolicyFileError(f"{path}: not UTF-8 text") from exc
    return parse_policy(text, str(path), hashlib.sha256(raw).hexdigest()[:12])


def parse_policy(text: str, path: str = "<policy>", sha256: str = "") -> RoutingPolicy:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PolicyFileError(f"{path}: the top level must be a mapping with version, roles, ...")
    _no_unknown(doc, _TOP_KEYS, path)
    roles_doc = doc.get("roles") or {}
    models_doc = doc.get("models") or {}
    if not isinstance(roles_doc, dict) or not isinstance(models_doc, dict):
        raise PolicyFileError(f"{path}: roles and models must be mappings")
    return RoutingPolicy(
        version=str(doc.get("version", "") or ""),
        quality_floor=_floor(doc.get("quality_floor", DEFAULT_QUALITY_FLOOR), f"{path}: quality_floor"),
        latency_p95_ms=_optional_slo(doc.get("latency_p95_ms"), f"{path}: latency_p95_ms"),
        models={_tier(t, f"{path}: models"): _declared(v, f"{path}: models.{t}") for t, v in models_doc.items()},
        roles={str(r): _role(v, f"{path}: roles.{r}") for r, v in roles_doc.items()},
        path=path, sha256=sha256, found=True,
    )


def _role(entry: Any, where: str) -> RolePolicy:
    if entry is None:
        return RolePolicy()
    if not isinstance(entry, dict):
        raise PolicyFileError(f"{where} must be a mapping ({', '.join(sorted(_ROLE_KEYS))})")
    _no_unknown(entry, _ROLE_KEYS, where)
    tiers = entry.get("allowed_tiers") or []
    if isinstance(tiers, str) or not isinstance(tiers, list):
        raise PolicyFileError(f"{where}.allowed_tiers must be a list such as [small, mid]")
    floor = entry.get("quality_floor")
    deadline = entry.get("deadline") or ""
    if deadline and deadline not in DEADLINES:
        raise PolicyFileError(f"{where}.deadline must be one of {', '.join(DEADLINES)}, got {deadline!r}")
    return RolePolicy(
        deadline=str(deadline),
        allowed_tiers=tuple(_tier(t, f"{where}.allowed_tiers") for t in tiers),
        pinned_model=str(entry.get("pinned_model") or ""),
        quality_floor=None if floor is None else _floor(floor, f"{where}.quality_floor"),
        latency_p95_ms=_optional_slo(entry.get("latency_p95_ms"), f"{where}.latency_p95_ms"),
    )


def _declared(entries: Any, where: str) -> tuple[DeclaredModel, ...]:
    if isinstance(entries, (str, dict)):
        entries = [entries]
    if not isinstance(entries, list):
        raise PolicyFileError(f"{where} must be a list of models")
    out = []
    for item in entries:
        if isinstance(item, str) and item:
            out.append(DeclaredModel(item))
        elif isinstance(item, dict) and item.get("model"):
            _no_unknown(item, {"model", "provider"}, where)
            out.append(DeclaredModel(str(item["model"]), str(item.get("provider") or "")))
        else:
            raise PolicyFileError(f"{where}: each model is a name or {{model: ..., provider: ...}}")
    return tuple(out)


def _tier(value: Any, where: str) -> str:
    if value not in TIER_ORDER:
        raise PolicyFileError(f"{where}: unknown tier {value!r}; tiers are {', '.join(reversed(TIER_ORDER))}")
    return str(value)


def _floor(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise PolicyFileError(f"{where} must be a number in [0, 1], got {value!r}")
    return float(value)


def _optional_slo(value: Any, where: str) -> float | None:
    """A latency SLO in milliseconds: absent (None) or a positive, finite number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise PolicyFileError(f"{where} must be a positive number of milliseconds, got {value!r}")
    return float(value)


def _no_unknown(entry: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in entry if k not in known)
    if unknown:
        raise PolicyFileError(f"{where}: unknown key {unknown[0]!r}; expected {', '.join(sorted(known))}")
