"""The tier of an ingested span's model: the configured map first (`TIERSCOPE_TIERS`, parsed by the same
`parse_tier_map` the agents use, so one string means one thing on both sides), else the model's price
band from genai-prices (`tierscope.instrumentation.tiers.tier_for_model`)."""

from __future__ import annotations

from collections.abc import Mapping

from tierscope.instrumentation.tiers import parse_tier_map, tier_for_model


class TierResolver:
    """`resolver(model, provider)` -> tier, or "" when neither the map nor a price knows the model.

    Model names are matched case-insensitively, as the agents' shims match them."""

    def __init__(self, tier_map: Mapping[str, str] | str | None = None) -> None:
        mapping = parse_tier_map(tier_map) if isinstance(tier_map, str) else tier_map or {}
        self.tier_map = {model.lower(): tier for model, tier in mapping.items()}
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, model: str, provider: str) -> str:
        key = (model, provider)
        tier = self._cache.get(key)
        if tier is None:
            tier = self.tier_map.get(model.lower()) or tier_for_model(model, provider or None) or ""
            self._cache[key] = tier
        return tier


__all__ = ["TierResolver"]
