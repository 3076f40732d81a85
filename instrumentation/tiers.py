"""Model tiers: which price band a model falls in, from its current list price.

A tier is a coarse, human word for "how expensive is this model": ``frontier``, ``mid``, ``small``
or ``local`` (self-hosted, no per-token price). tierscope groups spend by (role, tier) and
recommends moving a role down a tier, so the band must be stable and explainable: it is the
model's output price per million tokens from genai-prices, cut at fixed thresholds.

Everything here is pure and cached, so the collector can call :func:`tier_for_model` on every
span it ingests from other instrumentations. genai-prices is imported on first use only, which
keeps ``import tierscope.instrumentation`` cheap inside the host program.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from .conventions import TIERS

__all__ = [
    "FRONTIER_MIN_OUTPUT_MTOK",
    "LOCAL_PROVIDERS",
    "MID_MIN_OUTPUT_MTOK",
    "output_price_per_mtok",
    "parse_tier_map",
    "tier_for_model",
    "tier_for_output_price",
]

_logger = logging.getLogger(__name__)

FRONTIER_MIN_OUTPUT_MTOK = Decimal("8")
"""A model whose output costs at least this many dollars per million tokens is ``frontier``."""
MID_MIN_OUTPUT_MTOK = Decimal("2")
"""At least this (and below frontier) is ``mid``; anything cheaper is ``small``."""

LOCAL_PROVIDERS = frozenset(
    {"ollama", "vllm", "llama.cpp", "llamacpp", "lmstudio", "local", "tgi", "localai", "llamafile", "sglang"}
)
"""Providers that serve self-hosted models: their calls are ``local`` whatever the model."""


def tier_for_output_price(output_mtok: Decimal) -> str:
    """The tier of a model whose output costs ``output_mtok`` dollars per million tokens."""
    if output_mtok >= FRONTIER_MIN_OUTPUT_MTOK:
        return "frontier"
    if output_mtok >= MID_MIN_OUTPUT_MTOK:
        return "mid"
    return "small"


@lru_cache(maxsize=4096)
def output_price_per_mtok(model: str, provider: str | None = None) -> Decimal | None:
    """The model's current base output price in dollars per million tokens, or ``None`` if unpriced.

    ``provider`` narrows the lookup; a provider genai-prices does not know (such as the semconv
    name ``azure.ai.openai``) falls back to a lookup by model alone. For tiered prices (a higher
    rate past some context length) this is the base rate, which is what most calls pay.
    """
    from genai_prices.data_snapshot import get_snapshot  # lazy: ~0.5 s to load the price data

    snapshot = get_snapshot()
    try:
        try:
            _, model_info = snapshot.find_provider_model(model, None, provider, None)
        except LookupError:
            if provider is None:
                return None
            _, model_info = snapshot.find_provider_model(model, None, None, None)
        price = model_info.get_prices(datetime.now(UTC)).output_mtok
    except LookupError:
        return None
    except Exception:  # genai-prices data we did not expect: unpriced, never a crash
        _logger.debug("tierscope: no output price for model %r", model, exc_info=True)
        return None
    if price is None:
        return None
    base = getattr(price, "base", price)  # TieredPrices -> its base rate
    return base if isinstance(base, Decimal) else None


@lru_cache(maxsize=4096)
def tier_for_model(model: str, provider: str | None = None) -> str | None:
    """The tier of ``model`` by price band, ``"local"`` for self-hosted providers, ``None`` if unknown.

    >>> tier_for_model("gpt-4o")  # $10 / MTok output
    'frontier'
    """
    if provider is not None and provider.lower() in LOCAL_PROVIDERS:
        return "local"
    if not model:
        return None
    price = output_price_per_mtok(model, provider)
    return None if price is None else tier_for_output_price(price)


def parse_tier_map(text: str) -> dict[str, str]:
    """Parse ``"model=tier,model2=tier"`` (the ``TIERSCOPE_TIERS`` format) into a dict.

    Model names are lower-cased, since providers treat them case-insensitively. Raises
    ``ValueError`` naming every malformed entry or unknown tier.
    """
    mapping: dict[str, str] = {}
    bad: list[str] = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        model, sep, tier = entry.rpartition("=")
        model, tier = model.strip().lower(), tier.strip().lower()
        if not sep or not model or tier not in TIERS:
            bad.append(entry)
            continue
        mapping[model] = tier
    if bad:
        raise ValueError(f"bad model=tier entries {bad!r}; tiers are {', '.join(TIERS)}")
    return mapping
