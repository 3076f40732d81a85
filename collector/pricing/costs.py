"""Exact Decimal arithmetic of a priced batch, in Arrow: each row points at one per-token price
(`prices.LinearPrice`) and its cost, or its prompt-cache saving, is computed for all rows at once."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

COST_TYPE = pa.decimal128(38, 18)
_WIDE = pa.decimal256(19, 0)
PRICE_TYPE = pa.decimal256(38, 18)


def cache_savings(prices, row_price, priced, cache_read) -> pa.Array:
    """cache_read * (input - cache_read price) per row, in Decimal: what the cache saved; null where unpriced."""
    index = pa.array(row_price)
    gap = pa.array([p.input - p.cache_read if p else Decimal(0) for p in prices], PRICE_TYPE).take(index)
    saving = pc.multiply(pc.cast(pa.array(np.asarray(cache_read, dtype=np.int64)), _WIDE), gap)
    return pc.if_else(pa.array(priced), pc.cast(saving, COST_TYPE), pa.nulls(len(row_price), COST_TYPE))


def row_costs(prices, row_price, priced, input_tokens, output_tokens, cache_read, cache_write) -> pa.Array:
    """request + uncached*input + cache_read*cr + cache_write*cw + output*out, in Decimal, all rows."""
    zero = Decimal(0)
    index = pa.array(row_price)

    def per_row(field: str) -> pa.Array:
        return pa.array([getattr(p, field) if p else zero for p in prices], PRICE_TYPE).take(index)

    def wide(values: np.ndarray) -> pa.Array:
        return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), _WIDE)

    uncached = input_tokens - np.asarray(cache_read, np.int64) - np.asarray(cache_write, np.int64)
    total = per_row("request")
    for tokens, field in ((uncached, "input"), (cache_read, "cache_read"), (cache_write, "cache_write"),
                          (output_tokens, "output")):
        total = pc.add(total, pc.multiply(wide(tokens), per_row(field)))
    return pc.if_else(pa.array(priced), pc.cast(total, COST_TYPE), pa.nulls(len(row_price), COST_TYPE))
