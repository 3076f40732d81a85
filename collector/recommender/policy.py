"""A recommended routing policy: role -> model and tier, with its expected cost, quality and saving.

Versioned and serialisable (YAML for people, JSON for machines). Money is ``Decimal`` and is
written as strings so that no float ever rounds a dollar; reading back gives an equal object.

    schema: tierscope.policy/v1
    version: 7
    quality_target: 0.95
    routes:
    - role: formatter
      model: gpt-4o-mini
      tier: small
      expected_cost_per_call_usd: '0.000150000'
      expected_monthly_saving_usd: '1234.560000'
      ...
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from tierscope.errors import PolicyError

SCHEMA = "tierscope.policy/v1"
_MONEY = ("expected_cost_per_call_usd", "current_cost_per_call_usd", "expected_monthly_saving_usd")


@dataclass(frozen=True)
class RoleRoute:
    """Where one role should go, what that is expected to cost and achieve, and on what evidence.

    Costs are per call in USD (``None`` when unpriced: no observed calls). The saving is per
    month at the current volume, against the current routing. ``confidence`` is the share of
    posterior draws in which this model is the role's choice, ``None`` (unknown) while a cheaper
    candidate lacks the evidence to decide; ``evidence_n`` the number of quality observations
    behind it. ``canary`` is the plan to find out (see ``recommender.canary``), JSON-ready.
    ``latency`` is the role's latency SLO and the route's percentiles against it, JSON-ready (see
    ``recommender.latency.route_latency``); ``None`` in policies written before it.
    """

    role: str
    model: str
    tier: str
    current_model: str
    expected_cost_per_call_usd: Decimal | None
    current_cost_per_call_usd: Decimal | None
    expected_quality: float
    monthly_calls: int
    expected_monthly_saving_usd: Decimal | None
    confidence: float | None
    evidence_n: int
    pinned: bool = False
    reason: str = ""
    canary: dict[str, Any] | None = None
    latency: dict[str, Any] | None = None

    @property
    def moved(self) -> bool:
        return self.model != self.current_model


@dataclass(frozen=True)
class Policy:
    """A versioned routing policy; ``target_probability`` is P(overall quality target is met)."""

    version: int
    quality_target: float | None
    target_probability: float
    expected_quality_ratio: float
    routes: tuple[RoleRoute, ...]
    generated_at: datetime | None = None
    window_days: float | None = None

    @property
    def expected_monthly_saving_usd(self) -> Decimal:
        """Total saving over the priced routes."""
        return sum(
            (r.expected_monthly_saving_usd for r in self.routes if r.expected_monthly_saving_usd is not None),
            Decimal(0),
        )

    def model_for(self, role: str) -> str:
        return self.route(role).model

    def route(self, role: str) -> RoleRoute:
        for route in self.routes:
            if route.role == role:
                return route
        raise KeyError(role)

    def as_mapping(self) -> dict[str, str]:
        return {route.role: route.model for route in self.routes}

    # --- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": self.version,
            "generated_at": self.generated_at.isoformat() if self.generated_at else None,
            "window_days": self.window_days,
            "quality_target": self.quality_target,
            "target_probability": self.target_probability,
            "expected_quality_ratio": self.expected_quality_ratio,
            "expected_monthly_saving_usd": str(self.expected_monthly_saving_usd),
            "routes": [_route_dict(route) for route in self.routes],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any) -> Policy:
        if not isinstance(data, dict):
            raise PolicyError("a policy must be a mapping")
        if data.get("schema") != SCHEMA:
            raise PolicyError(f"schema must be {SCHEMA!r}, got {data.get('schema')!r}")
        routes = data.get("routes")
        if not isinstance(routes, list):
            raise PolicyError("routes must be a list")
        try:
            generated = data.get("generated_at")
            return cls(
                version=int(data["version"]),
                quality_target=_optional_float(data.get("quality_target")),
                target_probability=float(data["target_probability"]),
                expected_quality_ratio=float(data["expected_quality_ratio"]),
                routes=tuple(_route_from(route) for route in routes),
                generated_at=datetime.fromisoformat(generated) if generated else None,
                window_days=_optional_float(data.get("window_days")),
            )
        except KeyError as error:
            raise PolicyError(f"missing field {error.args[0]!r}") from None
        except (TypeError, ValueError, InvalidOperation) as error:
            if isinstance(error, PolicyError):
                raise
            raise PolicyError(f"bad value: {error}") from error

    @classmethod
    def from_json(cls, text: str) -> Policy:
        return cls._from_text(text, json.loads, json.JSONDecodeError, "JSON")

    @classmethod
    def from_yaml(cls, text: str) -> Policy:
        return cls._from_text(text, yaml.safe_load, yaml.YAMLError, "YAML")

    @classmethod
    def _from_text(cls, text: str, load: Callable[[str], Any], error_type: type[Exception], name: str) -> Policy:
        try:
            data = load(text)
        except error_type as error:
            raise PolicyError(f"not {name}: {error}") from error
        return cls.from_dict(data)


def _route_dict(route: RoleRoute) -> dict[str, Any]:
    data = asdict(route)
    for name in _MONEY:
        data[name] = None if data[name] is None else str(data[name])
    return data


def _route_from(data: Any) -> RoleRoute:
    if not isinstance(data, dict):
        raise PolicyError("each route must be a mapping")
    names = {f.name for f in fields(RoleRoute)}
    unknown = set(data) - names
    if unknown:
        raise PolicyError(f"unknown route field(s) {sorted(unknown)}")
    values = dict(data)
    for name in _MONEY:
        values[name] = None if values.get(name) is None else Decimal(str(values[name]))
    try:
        route = RoleRoute(**values)
    except TypeError as error:
        raise PolicyError(f"route {data.get('role')!r}: {error}") from None
    return RoleRoute(
        role=str(route.role),
        model=str(route.model),
        tier=str(route.tier),
        current_model=str(route.current_model),
        expected_cost_per_call_usd=route.expected_cost_per_call_usd,
        current_cost_per_call_usd=route.current_cost_per_call_usd,
        expected_quality=float(route.expected_quality),
        monthly_calls=int(route.monthly_calls),
        expected_monthly_saving_usd=route.expected_monthly_saving_usd,
        confidence=None if route.confidence is None else float(route.confidence),
        evidence_n=int(route.evidence_n),
        pinned=bool(route.pinned),
        reason=str(route.reason),
        canary=_mapping(route.canary, "canary"),
        latency=_mapping(route.latency, "latency"),
    )


def _mapping(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PolicyError(f"a route's {name} must be a mapping")
    return dict(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
