"""Normalized columns -> Arrow tables shaped like the store's, with costs from the Pricer."""

from __future__ import annotations

from itertools import chain

import numpy as np
import pyarrow as pa

from tierscope.collector.ingest.normalize import Normalized
from tierscope.collector.pricing.prices import Pricer

_TS = pa.timestamp("ns", tz="UTC")
_INGESTED = pa.timestamp("us", tz="UTC")
_ATTRS = pa.map_(pa.string(), pa.string())


def _tokens(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _attributes(maps: list[dict[str, str]]) -> pa.Array:
    """Map(String, String) from one dict per row, built from flat key and value columns."""
    offsets = np.zeros(len(maps) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, maps), np.int32, len(maps)), out=offsets[1:])
    keys = pa.array(list(chain.from_iterable(maps)), pa.string())
    values = pa.array(list(chain.from_iterable(map(dict.values, maps))), pa.string())
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values).cast(_ATTRS)


def spans_table(rows: Normalized, tenant: str, pricer: Pricer, ingested_us: int) -> pa.Table:
    """One Arrow row per LLM span, priced at its start time."""
    s = rows.spans
    n = rows.span_count
    start = np.asarray(s["start_time"], dtype=np.int64)
    tokens = {k: _tokens(s[k]) for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                                          "cache_write_tokens", "reasoning_tokens")}
    priced = pricer.price(s["model"], s["provider"], start, tokens["input_tokens"], tokens["output_tokens"],
                          tokens["cache_read_tokens"], tokens["cache_write_tokens"], s["service_tier"], s["processing"])
    columns = {
        "tenant": pa.array([tenant] * n, pa.string()),
        "trace_id": pa.array(s["trace_id"], pa.string()),
        "span_id": pa.array(s["span_id"], pa.string()),
        "parent_span_id": pa.array(s["parent_span_id"], pa.string()),
        "name": pa.array(s["name"], pa.string()),
        "start_time": pa.array(start, _TS),
        "end_time": pa.array(np.asarray(s["end_time"], dtype=np.int64), _TS),
    }
    for key in ("status_code", "error_type", "service", "environment", "role", "tier", "team", "feature",
                "agent_name", "conversation_id", "operation", "provider", "request_model", "response_model",
                "model", "service_tier", "processing", "deadline"):
        columns[key] = pa.array(s[key], pa.string())
    for key, values in tokens.items():
        columns[key] = pa.array(values.astype(np.uint64), pa.uint64())
    columns["cost_usd"] = priced.cost_usd
    columns["priced"] = pa.array(priced.priced, pa.bool_())
    columns["price_source"] = pa.array(priced.price_source, pa.string())
    columns["price_version"] = pa.array(priced.price_version, pa.string())
    columns["cache_saving_usd"] = priced.cache_saving_usd
    columns["batch_saving_usd"] = priced.batch_saving_usd
    columns["quality_score"] = pa.array(s["quality_score"], pa.float64())
    columns["quality_source"] = pa.array(s["quality_source"], pa.string())
    columns["router_policy_version"] = pa.array(s["router_policy_version"], pa.string())
    columns["router_propensity"] = pa.array(s["router_propensity"], pa.float64())
    columns["router_explored"] = pa.array(s["router_explored"], pa.bool_())
    columns["escalated_from"] = pa.array(s["escalated_from"], pa.string())
    columns["failover_from"] = pa.array(s["failover_from"], pa.string())
    columns["failover_reason"] = pa.array(s["failover_reason"], pa.string())
    columns["attributes"] = _attributes(s["attributes"])
    columns["ingested_at"] = pa.array(np.full(n, ingested_us, dtype=np.int64), _INGESTED)
    return pa.table(columns)


def quality_table(rows: Normalized, tenant: str, ingested_us: int) -> pa.Table:
    q = rows.quality
    n = rows.quality_count
    return pa.table({
        "tenant": pa.array([tenant] * n, pa.string()),
        "trace_id": pa.array(q["trace_id"], pa.string()),
        "span_id": pa.array(q["span_id"], pa.string()),
        "event_id": pa.array(q["event_id"], pa.string()),
        "event_time": pa.array(np.asarray(q["event_time"], dtype=np.int64), _TS),
        "score": pa.array(q["score"], pa.float64()),
        "source": pa.array(q["source"], pa.string()),
        "ingested_at": pa.array(np.full(n, ingested_us, dtype=np.int64), _INGESTED),
    })
