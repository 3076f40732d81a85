"""A small real chdb store filled with hand-written spans, for finance tests (month close like for
like, budgets, reconciliation): each span names its start, cost (None = unpriced) and scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from tierscope.collector.store.clickhouse import Store


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Span:
    start: str
    cost: str | None
    team: str = "search"
    role: str = "worker"
    feature: str = ""
    service: str = "agent"
    model: str = "gpt-4o"
    provider: str = "openai"
    trace: str = ""
    tenant: str = "default"


def insert(store: Store, spans: list[Span], first: int = 0) -> None:
    """Write `spans` as llm_spans rows (span ids numbered from `first`, so later batches add)."""
    n = len(spans)
    ts = pa.timestamp("ns", tz="UTC")
    store.insert("llm_spans", pa.table({
        "tenant": [s.tenant for s in spans],
        "trace_id": [s.trace or f"t{first + i}" for i, s in enumerate(spans)],
        "span_id": [f"s{first + i}" for i in range(n)],
        "start_time": pa.array([utc(s.start) for s in spans], ts),
        "end_time": pa.array([utc(s.start) + timedelta(seconds=1) for s in spans], ts),
        **{k: [getattr(s, k) for s in spans] for k in ("team", "role", "feature", "service", "model", "provider")},
        "operation": ["chat"] * n,
        "cost_usd": pa.array([None if s.cost is None else Decimal(s.cost) for s in spans], pa.decimal128(38, 18)),
        "priced": [s.cost is not None for s in spans],
        "ingested_at": pa.array([utc("2026-12-01T00:00")] * n, pa.timestamp("us", tz="UTC")),
    }))


def new_store(path: Path, spans: list[Span]) -> Store:
    store = Store(f"chdb:{path}")
    store.migrate()
    insert(store, spans)
    return store
