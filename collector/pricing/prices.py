"""Exact span costs from genai-prices (or a prices.toml override), computed in bulk.

`genai_prices.calc_price` takes ~190 µs a call, far too slow per span at ingest rates. Almost every
model price is linear in its token counts, so we resolve each (model, provider, minute) once, turn
its ModelPrice into per-token Decimal prices by asking genai-prices itself, and price the whole
batch with Arrow decimal arithmetic. Prices that are not linear (tiered by context length) are
computed span by span with genai-prices. Either way the result is the same Decimal calc_price gives.
An unknown model is *unpriced*: cost NULL, never $0.

The service tier that served a call and its processing mode (batch) select genai-prices' price
variants through `price_context`, exactly as `calc_price(..., price_context=...)` does; they are
part of the resolution key, so each (model, provider, tier, processing, minute) is resolved once.
"""

from __future__ import annotations

import hashlib
import logging
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import genai_prices
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from genai_prices import Usage
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelPrice, PriceContext, TieredPrices
from tierscope.collector.pricing.costs import COST_TYPE, PRICE_TYPE, cache_savings, row_costs
from tierscope.errors import PricesFileError
from tierscope.instrumentation.conventions import BATCH, SERVICE_TIER_VALUES

log = logging.getLogger(__name__)

_MTOK = Decimal(1_000_000)
_NS_PER_MINUTE = 60_000_000_000
GENAI_PRICES_VERSION = f"genai-prices {genai_prices.__version__}"

# OpenTelemetry semconv provider names -> genai-prices provider ids, where they differ.
_PROVIDER_IDS = {
    "gcp.gemini": "google", "gcp.vertex_ai": "google", "gcp.gen_ai": "google", "vertex_ai": "google",
    "gemini": "google", "aws.bedrock": "aws", "bedrock": "aws", "az.ai.openai": "azure",
    "azure.ai.openai": "azure", "azure.ai.inference": "azure", "x_ai": "x-ai", "xai": "x-ai",
    "mistral_ai": "mistral", "mistralai": "mistral", "meta_llama": "meta",
}


@dataclass(frozen=True)
class LinearPrice:
    """USD per token (and per request) for one model at one time."""

    request: Decimal
    input: Decimal  # per uncached input token
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    source: str
    version: str


@dataclass(frozen=True)
class PriceOverride:
    model: str
    provider: str  # "" matches any provider
    since: datetime | None
    price: LinearPrice


@dataclass(frozen=True)
class PricedColumns:
    cost_usd: pa.Array  # decimal128(38, 18), null where unpriced
    priced: np.ndarray  # bool
    price_source: list[str]
    price_version: list[str]
    # The levers (null where unpriced): what reading from the prompt cache saved against paying the
    # input price for those tokens, and what the call would have saved at genai-prices' batch price
    # (0 for batch work and for models without a batch price).
    cache_saving_usd: pa.Array
    batch_saving_usd: pa.Array


def load_overrides(path: str | Path | None) -> list[PriceOverride]:
    """Read `[[prices]]` entries from a prices.toml; a missing path means no overrides."""
    if not path or not Path(path).exists():
        return []
    raw = Path(path).read_bytes()
    try:
        doc = tomllib.loads(raw.decode(), parse_float=Decimal)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PricesFileError(f"{path}: {exc}") from exc
    version = f"{Path(path).name} sha256:{hashlib.sha256(raw).hexdigest()[:12]}"
    overrides = []
    for i, entry in enumerate(doc.get("prices", [])):
        where = f"{path}: prices[{i}]"
        try:
            model = str(entry["model"])
            per_mtok = {k: Decimal(str(entry[k])) for k in ("input_mtok", "output_mtok")}
        except KeyError as exc:
            raise PricesFileError(f"{where} needs {exc.args[0]!r}") from exc
        cache_read = Decimal(str(entry.get("cache_read_mtok", per_mtok["input_mtok"])))
        cache_write = Decimal(str(entry.get("cache_write_mtok", per_mtok["input_mtok"])))
        since = entry.get("since")
        if isinstance(since, str):
            since = datetime.fromisoformat(since.replace("Z", "+00:00"))
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        values = [*per_mtok.values(), cache_read, cache_write]
        if any(v < 0 for v in values):
            raise PricesFileError(f"{where}: prices must not be negative")
        price = LinearPrice(
            request=Decimal(str(entry.get("request", 0))),
            input=per_mtok["input_mtok"] / _MTOK,
            cache_read=cache_read / _MTOK,
            cache_write=cache_write / _MTOK,
            output=per_mtok["output_mtok"] / _MTOK,
            source="override",
            version=version,
        )
        overrides.append(PriceOverride(model, str(entry.get("provider", "")), since, price))
    # Newest `since` first, so the entry in force at a span's start time is found first.
    overrides.sort(key=lambda o: o.since or datetime.min.replace(tzinfo=UTC), reverse=True)
    return overrides


def provider_id(provider: str) -> str | None:
    return _PROVIDER_IDS.get(provider, provider) or None


@lru_cache(maxsize=1)
def variant_values() -> dict[str, frozenset[str]]:
    """Every value genai-prices' price variants select on, per context key ("service_tier",
    "processing", ...): a tier outside these has no price of its own and is priced at the default."""
    values: dict[str, set[str]] = {}
    for provider in get_snapshot().providers:
        for model in provider.models:
            for variant in model.price_variants or ():
                for key, value in variant.when.items():
                    values.setdefault(key, set()).add(value)
    return {key: frozenset(found) for key, found in values.items()}


def known_service_tiers() -> frozenset[str]:
    """Service tier values that mean something: those a price variant selects on, and the ones
    providers report that have no price of their own (conventions.SERVICE_TIER_VALUES). A span with
    another value is priced at the default and counted as an unknown tier."""
    return variant_values().get("service_tier", frozenset()) | frozenset(SERVICE_TIER_VALUES)


def unknown_service_tiers(counts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """The (tier, calls) counts whose tier is set but not known, summed per tier."""
    known = known_service_tiers()
    out: Counter[str] = Counter()
    for tier, n in counts:
        if tier and tier not in known:
            out[tier] += n
    return dict(out)


def price_context(service_tier: str, processing: str) -> PriceContext | None:
    """The genai-prices `price_context` of a call served on `service_tier` with `processing`; only
    values some price variant selects on are passed (None when there is none: the default price)."""
    known = variant_values()
    context = {}
    if service_tier and service_tier in known.get("service_tier", ()):
        context["service_tier"] = service_tier
    if processing and processing in known.get("processing", ()):
        context["processing"] = processing
    return context or None


@lru_cache(maxsize=4096)
def _find_model(model: str, provider: str):  # -> (Provider, ModelInfo) | None
    snapshot = get_snapshot()
    pid = provider_id(provider)
    for attempt in ((pid,) if pid is None else (pid, None)):
        try:
            return snapshot.find_provider_model(model, None, attempt, None)
        except LookupError:
            continue
    return None


_LINEAR: dict[int, tuple[ModelPrice, LinearPrice | None]] = {}
_VARIANTS: dict[str, LinearPrice | TieredPrice] = {}  # by repr: get_prices returns a new copy per call


def _linear(model_price: ModelPrice) -> LinearPrice | None:
    """Per-token prices of a linear ModelPrice (cached per price object); None if tiered."""
    cached = _LINEAR.get(id(model_price))
    if cached is None or cached[0] is not model_price:
        cached = _LINEAR[id(model_price)] = (model_price, _measure_linear(model_price))
    return cached[1]


def _measure_linear(model_price: ModelPrice) -> LinearPrice | None:
    """Ask genai-prices what one million of each token kind costs; None if the price is tiered."""
    if any(isinstance(v, TieredPrices) for v in vars(model_price).values()):
        return None

    def total(**usage: int) -> Decimal:
        return model_price.calc_price(Usage(**usage))["total_price"]

    request = total(input_tokens=0, output_tokens=0)
    m = 1_000_000
    return LinearPrice(
        request=request,
        input=(total(input_tokens=m) - request) / _MTOK,
        cache_read=(total(input_tokens=m, cache_read_tokens=m) - request) / _MTOK,
        cache_write=(total(input_tokens=m, cache_write_tokens=m) - request) / _MTOK,
        output=(total(output_tokens=m) - request) / _MTOK,
        source="genai-prices",
        version=GENAI_PRICES_VERSION,
    )


@dataclass(frozen=True)
class TieredPrice:
    """A price that changes with the span's total input tokens (genai-prices' cliff tiers).

    brackets[k] prices spans whose input tokens exceed thresholds[k-1] (and not thresholds[k]).
    """

    thresholds: np.ndarray
    brackets: tuple[LinearPrice, ...]


_TIERED: dict[int, tuple[ModelPrice, TieredPrice]] = {}


def _tiered(model_price: ModelPrice) -> TieredPrice:
    cached = _TIERED.get(id(model_price))
    if cached is None or cached[0] is not model_price:
        cached = _TIERED[id(model_price)] = (model_price, _tiered_uncached(model_price))
    return cached[1]


def _tiered_uncached(model_price: ModelPrice) -> TieredPrice:
    """One linear price per input-size bracket of a tiered price."""
    fields = {k: v for k, v in vars(model_price).items() if not k.startswith("_")}
    starts = sorted({t.start for v in fields.values() if isinstance(v, TieredPrices) for t in v.tiers})
    brackets = []
    for total_input in [0] + [s + 1 for s in starts]:
        flat = ModelPrice(**{k: _tier_price(v, total_input) for k, v in fields.items()})
        brackets.append(_measure_linear(flat))
    return TieredPrice(np.array(starts, np.int64), tuple(brackets))


def _variant(model_price: ModelPrice) -> LinearPrice | TieredPrice:
    """`_linear` or `_tiered` of a price variant, remembered by its prices (each is a fresh copy)."""
    key = repr(model_price)
    found = _VARIANTS.get(key)
    if found is None:
        if len(_VARIANTS) >= 4096:
            _VARIANTS.clear()
        found = _VARIANTS[key] = _measure_linear(model_price) or _tiered_uncached(model_price)
    return found


def _tier_price(value, total_input: int):
    if not isinstance(value, TieredPrices):
        return value
    for tier in reversed(value.tiers):
        if total_input > tier.start:
            return tier.price
    return value.base


class Pricer:
    """Prices batches of spans; overrides beat genai-prices; unknown models stay unpriced."""

    def __init__(self, overrides: list[PriceOverride] | None = None) -> None:
        self.overrides = overrides or []
        self._by_minute: dict[tuple[str, str, str, str, int], LinearPrice | TieredPrice | None] = {}

    def _resolve_minute(self, model: str, provider: str, service_tier: str, processing: str,
                        minute: int) -> LinearPrice | TieredPrice | None:
        """`resolve` at the start of a minute, remembered: live traffic prices the same few each batch."""
        key = (model, provider, service_tier, processing, minute)
        found = self._by_minute.get(key, self)
        if found is self:
            if len(self._by_minute) >= 65_536:
                self._by_minute.clear()
            found = self._by_minute[key] = self.resolve(model, provider, datetime.fromtimestamp(minute * 60, UTC),
                                                        price_context(service_tier, processing))
        return found

    def constant_linear(self, model: str, provider: str, variants: bool = False) -> bool:
        """True when (model, provider) has one linear price for all time (or none: always unpriced),
        so the cost of many calls is that price times their summed tokens, exactly. False for
        overrides (they start at a time), price history, time-of-day and context-tiered prices, and,
        when some calls carry a tier or processing (`variants`), for models with price variants."""
        if any(o.model == model for o in self.overrides):
            return False
        found = _find_model(model, provider) if model else None
        if found is None:
            return True
        if variants and found[1].price_variants:
            return False
        prices = found[1].prices
        return isinstance(prices, ModelPrice) and _linear(prices) is not None

    def resolve(self, model: str, provider: str, when: datetime,
                context: PriceContext | None = None) -> LinearPrice | TieredPrice | None:
        """What prices one span at `when` (with genai-prices' price `context`): linear, tiered by
        input size, or None (unpriced). Overrides apply whatever the context."""
        for o in self.overrides:
            if o.model == model and o.provider in ("", provider) and (o.since is None or when >= o.since):
                return o.price
        if not model:
            return None
        found = _find_model(model, provider)
        if found is None:
            return None
        provider_info, info = found
        if not context or not info.price_variants or not any(info is m for m in provider_info.models):
            # calc_price ignores the context of a model found under another provider
            model_price = info.get_prices(when)
            return _linear(model_price) or _tiered(model_price)
        return _variant(info.get_prices(when, context))

    def price(
        self,
        model: list[str],
        provider: list[str],
        start_ns: np.ndarray,
        input_tokens: np.ndarray,
        output_tokens: np.ndarray,
        cache_read: np.ndarray,
        cache_write: np.ndarray,
        service_tier: list[str] | None = None,
        processing: list[str] | None = None,
    ) -> PricedColumns:
        """Costs for a batch. input_tokens include cache reads and writes (semconv). `service_tier`
        and `processing` (one per span; none means "" for all) select genai-prices' price variants.

        Prices are resolved once per (model, provider, service tier, processing, minute of start time).
        """
        n = len(model)
        minute = (np.asarray(start_ns, dtype=np.int64) // _NS_PER_MINUTE).tolist()
        none = [""] * n
        modes = processing or none
        keys = list(zip(model, provider, service_tier or none, modes, minute))
        groups = {key: g for g, key in enumerate(dict.fromkeys(keys))}  # first-seen order
        group_of = np.fromiter(map(groups.__getitem__, keys), np.int64, n)
        inputs = np.asarray(input_tokens, np.int64)
        linear, row_price = _flatten([self._resolve_minute(*key) for key in groups], group_of, inputs)
        priced = np.array([p is not None for p in linear], dtype=bool)[row_price] if n else np.zeros(0, bool)
        source = np.array([p.source if p else "" for p in linear], dtype=object)
        version = np.array([p.version if p else "" for p in linear], dtype=object)
        cost = row_costs(linear, row_price, priced, inputs, output_tokens, cache_read, cache_write)

        # The batch price of the same call: processing "batch", the service tier dropped (a batch is its own tier).
        batch_linear, batch_row = _flatten([self._resolve_minute(m, p, "", BATCH, t) for m, p, _, _, t in groups],
                                           group_of, inputs)
        batch_priced = np.array([p is not None for p in batch_linear], dtype=bool)[batch_row] if n else priced
        as_batch = row_costs(batch_linear, batch_row, priced & batch_priced, inputs, output_tokens, cache_read, cache_write)
        already = pa.array(np.fromiter((m == BATCH for m in modes), bool, n))
        zero = pa.scalar(Decimal(0), COST_TYPE)
        batch_saving = pc.if_else(already, pc.if_else(pa.array(priced), zero, pa.scalar(None, COST_TYPE)),
                                  pc.cast(pc.subtract(pc.cast(cost, PRICE_TYPE), pc.cast(as_batch, PRICE_TYPE)), COST_TYPE))
        cache_saving = cache_savings(linear, row_price, priced, cache_read)
        return PricedColumns(
            cost_usd=cost,
            priced=priced,
            price_source=source[row_price].tolist() if n else [],
            price_version=version[row_price].tolist() if n else [],
            cache_saving_usd=cache_saving,
            batch_saving_usd=batch_saving,
        )


def _flatten(resolved: list[LinearPrice | TieredPrice | None], group_of: np.ndarray,
             inputs: np.ndarray) -> tuple[list[LinearPrice | None], np.ndarray]:
    """One LinearPrice per (group, bracket), and the index of each row's among them (a row of a
    tiered price points at the bracket of its input size)."""
    linear: list[LinearPrice | None] = []
    offset = np.zeros(len(resolved), np.int64)
    for g, price in enumerate(resolved):
        offset[g] = len(linear)
        linear.extend(price.brackets if isinstance(price, TieredPrice) else [price])
    row_price = offset[group_of] if len(group_of) else np.zeros(0, np.int64)
    for g in {g for g, p in enumerate(resolved) if isinstance(p, TieredPrice)}:
        rows = group_of == g
        row_price[rows] += np.searchsorted(resolved[g].thresholds, inputs[rows], side="left")
    return linear, row_price
