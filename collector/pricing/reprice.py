"""Recompute stored costs after a price update or a prices.toml change (Langfuse cannot).

Rows are re-read month by month, priced again with the same bulk Pricer as ingest, and written
back with a newer ingested_at; ReplacingMergeTree keeps the newest row per span, so readers see
either the old or the new cost of a span, never both.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierscope.collector.ingest.vendors import served_tier
from tierscope.collector.pricing.prices import Pricer, load_overrides
from tierscope.collector.store.clickhouse import Store
from tierscope.settings import Settings
from tierscope.terms import PRICED_TOKENS

log = logging.getLogger(__name__)

_SELECT_MONTHS = (
    "SELECT DISTINCT toYYYYMM(start_time) AS m FROM llm_spans "
    "WHERE start_time >= {since:DateTime64(9, 'UTC')} ORDER BY m"
)
_SELECT_ROWS = (
    "SELECT * FROM llm_spans FINAL WHERE toYYYYMM(start_time) = {month:UInt32} "
    "AND start_time >= {since:DateTime64(9, 'UTC')}"
)


def served_tiers(rows: pa.Table) -> tuple[list[str], list[str]]:
    """Each row's (service tier, processing) columns; a row stored before they existed (both empty)
    reads them from the span attributes it kept, as ingest does now."""
    tiers = rows["service_tier"].cast(pa.string()).to_pylist()
    processing = rows["processing"].cast(pa.string()).to_pylist()
    attributes = rows["attributes"]
    for i, (tier, mode) in enumerate(zip(tiers, processing)):
        if not tier and not mode:
            tiers[i], processing[i] = served_tier(dict(attributes[i].as_py() or ()))
    return tiers, processing


def reprice_table(rows: pa.Table, pricer: Pricer, ingested_us: int) -> tuple[pa.Table, int]:
    """The same rows with fresh cost columns (and service tier columns); also how many rows changed."""
    start_ns = rows["start_time"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    tokens = {k: rows[k].cast(pa.int64()).to_numpy(zero_copy_only=False)
              for k in PRICED_TOKENS}
    tiers, processing = served_tiers(rows)
    priced = pricer.price(rows["model"].cast(pa.string()).to_pylist(), rows["provider"].cast(pa.string()).to_pylist(),
                          start_ns, tokens["input_tokens"], tokens["output_tokens"],
                          tokens["cache_read_tokens"], tokens["cache_write_tokens"], tiers, processing)
    old = rows["cost_usd"].combine_chunks().cast(priced.cost_usd.type)
    same = pc.fill_null(pc.equal(old, priced.cost_usd), False)
    both_null = pc.and_(pc.is_null(old), pc.is_null(priced.cost_usd))
    for name in ("cache_saving_usd", "batch_saving_usd"):  # a row stored before the levers has none yet
        fresh = getattr(priced, name)
        stored = rows[name].combine_chunks().cast(fresh.type)
        same = pc.and_(same, pc.or_(pc.fill_null(pc.equal(stored, fresh), False),
                                    pc.and_(pc.is_null(stored), pc.is_null(fresh))))
    same = pc.and_(pc.or_(same, both_null), pc.and_(pc.equal(rows["service_tier"].cast(pa.string()), pa.array(tiers)),
                                                     pc.equal(rows["processing"].cast(pa.string()), pa.array(processing))))
    changed = len(old) - pc.sum(same).as_py() if len(old) else 0
    out = rows
    for name, column in (("cost_usd", priced.cost_usd), ("priced", pa.array(priced.priced)),
                         ("cache_saving_usd", priced.cache_saving_usd), ("batch_saving_usd", priced.batch_saving_usd),
                         ("service_tier", pa.array(tiers, pa.string())), ("processing", pa.array(processing, pa.string())),
                         ("price_source", pa.array(priced.price_source)),
                         ("price_version", pa.array(priced.price_version)),
                         ("ingested_at", pa.array(np.full(len(old), ingested_us, np.int64),
                                                  pa.timestamp("us", tz="UTC")))):
        index = out.schema.get_field_index(name)
        out = out.set_column(index, name, column.cast(out.schema.field(name).type) if not name.endswith("_usd") else column)
    return out, changed


def reprice_store(store: Store, settings: Settings, since: str | None = None) -> dict[str, Any]:
    start = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else datetime(1970, 1, 1, tzinfo=UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    pricer = Pricer(load_overrides(settings.prices_file))
    began = time.monotonic()
    total = changed = 0
    for (month,) in store.rows(_SELECT_MONTHS, {"since": start}):
        rows = store.arrow(_SELECT_ROWS, {"month": month, "since": start})  # a month at a time bounds memory
        if rows.num_rows == 0:
            continue
        fresh, n_changed = reprice_table(rows, pricer, time.time_ns() // 1000)
        if n_changed:
            store.insert("llm_spans", fresh)
        total += rows.num_rows
        changed += n_changed
        log.info("repriced %d spans of %d (%d changed)", rows.num_rows, month, n_changed)
    return {"spans": total, "changed": changed, "seconds": round(time.monotonic() - began, 3)}
