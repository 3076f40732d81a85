"""Section 2: the limits end-to-end ingest is measured against, on the same spans.

* decode + normalize alone: `decode_body` then `normalize`, in-process, one core, no I/O — the
  CPU floor of the collector's request path (also shown with pricing + Arrow, i.e. all of
  `Collector.prepare` but the hand-off to the writer).
* the store's raw insert rate: `Store.insert` (chdb `insert_arrow`) of pre-built Arrow tables
  shaped like llm_spans, in batches the size the writer coalesces, into a fresh store.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass

import pyarrow as pa


@dataclass
class DecodeRate:
    spans: int
    decode_normalize_per_s: float  # wall clock, one thread
    with_pricing_arrow_per_s: float
    cpu_us_per_span: float  # decode + normalize, process CPU time


@dataclass
class InsertRate:
    rows: int
    batch: int
    rows_per_s: float
    settings: str = ""


def decode_rate(bodies: list[bytes], spans: int, repeats: int = 3) -> DecodeRate:
    """Best of `repeats` passes over `bodies` (the first pass also warms the caches)."""
    from tierscope.collector.ingest.decode import decode_body
    from tierscope.collector.ingest.normalize import normalize
    from tierscope.collector.pricing.prices import Pricer
    from tierscope.collector.ingest.rows import quality_table, spans_table
    from tierscope.collector.pricing.tiers import TierResolver

    resolve, pricer = TierResolver(), Pricer()
    for body in bodies[:4]:  # genai-prices' snapshot and the tier map load once
        spans_table(normalize(decode_body(body, "application/x-protobuf"), resolve_tier=resolve), "d", pricer, 0)
    best_wall = best_cpu = best_full = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        for body in bodies:
            normalize(decode_body(body, "application/x-protobuf"), resolve_tier=resolve)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        w0 = time.perf_counter()
        for body in bodies:
            rows = normalize(decode_body(body, "application/x-protobuf"), resolve_tier=resolve)
            spans_table(rows, "default", pricer, 0)
            quality_table(rows, "default", 0)
        best_full = min(best_full, time.perf_counter() - w0)
    return DecodeRate(spans, spans / best_wall, spans / best_full, best_cpu / spans * 1e6)


def decode_rate_at(rev: str, bodies: list[bytes], spans: int) -> DecodeRate:
    """`decode_rate` with the hot path (decode, pricing, normalize, rows) as of git revision `rev`.
    Run it in a fresh process: it replaces those modules for the whole interpreter."""
    from patched_serve import PATCHES

    PATCHES["baseline"](rev)
    return decode_rate(bodies, spans)


def arrow_tables(bodies: list[bytes]) -> pa.Table:
    """The llm_spans rows the collector would insert for `bodies`."""
    from tierscope.collector.ingest.decode import decode_body
    from tierscope.collector.ingest.normalize import normalize
    from tierscope.collector.pricing.prices import Pricer
    from tierscope.collector.ingest.rows import spans_table
    from tierscope.collector.pricing.tiers import TierResolver

    resolve, pricer = TierResolver(), Pricer()
    now_us = time.time_ns() // 1000
    return pa.concat_tables(spans_table(normalize(decode_body(b, "application/x-protobuf"), resolve_tier=resolve),
                                        "default", pricer, now_us) for b in bodies).combine_chunks()


def insert_rate(bodies: list[bytes], batch: int = 20_000, settings: dict[str, int] | None = None) -> InsertRate:
    """Rows/s of Store.insert into a fresh store, `batch` rows per insert (run it in its own process).

    With `settings`, the bare chdb insert_arrow with those insert settings instead: no hour marks
    (Store.insert stamps the hours it changed in rollup_marks), so the pair shows what marking costs."""
    from tierscope.collector.store.clickhouse import Store

    table = arrow_tables(bodies)
    batch = min(batch, max(1, table.num_rows // 4))
    with tempfile.TemporaryDirectory(prefix="tierscope-bench-insert-") as tmp:
        store = Store(f"chdb:{tmp}/store")
        store.migrate()
        store.insert("llm_spans", table.slice(0, 1000))  # first-insert setup outside the clock
        batches = [table.slice(i, batch) for i in range(1000, table.num_rows, batch)]
        t0 = time.perf_counter()
        for b in batches:
            if settings:
                store.insert_arrow("llm_spans", b, settings)
            else:
                store.insert("llm_spans", b)
        elapsed = time.perf_counter() - t0
        store.close()
    rows = table.num_rows - 1000
    return InsertRate(rows, batch, rows / elapsed, ", ".join(f"{k}={v}" for k, v in (settings or {}).items()))
