"""The process-wide model→tier map, and the order in which a call's tier is decided.

Order: an explicit tier (``llm_call(tier=)``, else the enclosing ``role(tier=)``) beats the
configured map (``configure(tiers=)`` / ``set_tier_map()`` over the ``TIERSCOPE_TIERS``
environment variable, per model), which beats the price band from :func:`tiers.tier_for_model`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache

from ._guard import logger
from .conventions import TIERS
from .tiers import parse_tier_map, tier_for_model

__all__ = ["TIERS_ENV", "check_tier", "resolve_tier", "set_tier_map", "tier_map"]

TIERS_ENV = "TIERSCOPE_TIERS"
"""Environment variable: ``"model=tier,model2=tier"``, e.g. ``"gpt-4o=frontier,llama3:8b=local"``."""

_lock = threading.Lock()
_explicit: dict[str, str] = {}


def check_tier(tier: str | None) -> str | None:
    """``tier`` if it is ``None`` or one of ``conventions.TIERS``; a ``ValueError`` otherwise."""
    if tier is not None and tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; tiers are {', '.join(TIERS)}")
    return tier


def set_tier_map(tiers: Mapping[str, str] | None) -> None:
    """Set the model→tier map for this process; it overrides ``TIERSCOPE_TIERS`` model by model.

    ``None`` or ``{}`` clears it. An unknown tier is the caller's bug: ``ValueError``.
    """
    mapping = {model.lower(): check_tier(tier) for model, tier in (tiers or {}).items()}
    global _explicit
    with _lock:
        _explicit = mapping  # type: ignore[assignment]


@lru_cache(maxsize=8)
def _env_map(text: str) -> Mapping[str, str]:
    try:
        return parse_tier_map(text)
    except ValueError as exc:
        # Operators set this; a typo must not break the host. Keep the entries that parse.
        logger.warning("tierscope: ignoring bad entries in %s: %s", TIERS_ENV, exc)
        good: dict[str, str] = {}
        for entry in text.split(","):
            try:
                good.update(parse_tier_map(entry))
            except ValueError:
                continue
        return good


def tier_map() -> dict[str, str]:
    """The effective map: ``TIERSCOPE_TIERS`` overlaid with the configured entries."""
    return {**_env_map(os.environ.get(TIERS_ENV, "")), **_explicit}


def _mapped(model: str) -> str | None:
    key = model.lower()
    return _explicit.get(key) or _env_map(os.environ.get(TIERS_ENV, "")).get(key)


def resolve_tier(models: Iterable[str | None], provider: str | None, explicit: str | None = None) -> str | None:
    """The tier of a call to the first of ``models`` that resolves (request model, then response model)."""
    if explicit is not None:
        return explicit
    candidates = [m for m in models if m]
    for model in candidates:
        if tier := _mapped(model):
            return tier
    for model in candidates:
        if tier := tier_for_model(model, provider):
            return tier
    if provider is not None:
        return tier_for_model("", provider)  # a local provider is "local" even for an unknown model
    return None
