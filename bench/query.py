"""Section 4: read-API latency on a store of 10 million spans.

The store is generated straight into chdb with Arrow inserts (numpy columns, realistic
cardinalities: 20 roles, 4 tiers, 15 models, 10 teams, 5 services, 3 environments, 90 days, ~5
spans per trace, 10% inline quality and 5% late quality events, each received an hour after its
call; a role belongs to one team, feature and service and uses three models, as agent roles do),
merged once (as a long-running
store's old parts would be), its rollup filled (as the collector's refresher keeps it), then
topped up with a fresh unmerged hour of up to 1,000,000 spans (as live ingest leaves the open hour)
whose units are refreshed up to :55 (as the refresher leaves them at :56: the last unit is read
from the raw spans), then served by a real collector process with the refresher off (so the store
stays in that state); every endpoint the dashboard calls is timed through HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from collector_process import CollectorProcess
from workload import ENVIRONMENTS, ENVIRONMENT_WEIGHTS, FEATURES, MODEL_WEIGHTS, MODELS, ROLES, SERVICES, TEAMS

_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")
_TS = pa.timestamp("ns", tz="UTC")
_DAY_NS = 86_400 * 10**9


def _hex_ids(rng: np.random.Generator, count: int, width: int) -> pa.Array:
    """`count` random lowercase hex ids of `width` bytes, vectorized."""
    raw = rng.integers(0, 256, (count, width), dtype=np.uint8)
    return pa.array(np.ascontiguousarray(_HEX[raw]).view(f"S{2 * width}").ravel()).cast(pa.string())


def _pick(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), pa.array(values)).cast(pa.string())


def _const(value: str, count: int) -> pa.Array:
    return pa.nulls(count, pa.string()).fill_null(value)


def _nano_decimal(nano: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Decimal(38, 18) dollars from integer nano-dollars (exact), null where not `valid`."""
    words = np.zeros((len(nano), 2), dtype=np.int64)
    words[:, 0] = nano
    scaled = pa.Array.from_buffers(pa.decimal128(38, 9), len(nano), [None, pa.py_buffer(words)])
    return pc.if_else(pa.array(valid), scaled.cast(pa.decimal128(38, 18)), pa.scalar(None, pa.decimal128(38, 18)))


def _model_prices() -> np.ndarray:
    """Per-token USD (input, cache read, cache write, output) for each workload model, NaN if unpriced."""
    from tierscope.collector.pricing.prices import Pricer, TieredPrice

    pricer, now = Pricer(), datetime.now(UTC)
    prices = np.full((len(MODELS), 4), np.nan)
    for i, (model, provider, _, _) in enumerate(MODELS):
        price = pricer.resolve(model, provider, now)
        if isinstance(price, TieredPrice):
            price = price.brackets[0]
        if price is not None:
            prices[i] = [float(price.input), float(price.cache_read), float(price.cache_write), float(price.output)]
    return prices


def store_chunk(rng: np.random.Generator, count: int, start_ns: int, span_ns: int, prices: np.ndarray,
                ingested_us: int) -> tuple[pa.Table, pa.Table]:
    """`count` llm_spans rows (and their late quality events) starting in [start_ns, start_ns + span_ns)."""
    from workload import span_specs

    s = span_specs(count, int(rng.integers(1 << 30)), start_ns, span_ns / 1e9)
    # A role belongs to one team, feature and service and calls one of three models (as agents do).
    role_models = np.random.default_rng(1).choice(len(MODELS), (len(ROLES), 3), p=MODEL_WEIGHTS / MODEL_WEIGHTS.sum())
    model = role_models[s.role, rng.choice(3, count, p=[0.6, 0.3, 0.1])]
    s = replace(s, model=model, team=s.role % len(TEAMS), feature=s.role % len(FEATURES))
    traces = _hex_ids(rng, (count + 4) // 5, 16)
    trace_id = traces.take(pa.array(np.arange(count) // 5))
    span_id = _hex_ids(rng, count, 8)
    model_names = [m[0] for m in MODELS]
    tier_of = np.array([["frontier", "mid", "small", "local"].index(m[2]) for m in MODELS])
    provider_of = np.array([sorted({m[1] for m in MODELS}).index(m[1]) for m in MODELS])
    providers = sorted({m[1] for m in MODELS})
    uncached = s.input_tokens - s.cache_read - s.cache_write
    p = prices[s.model]
    dollars = uncached * p[:, 0] + s.cache_read * p[:, 1] + s.cache_write * p[:, 2] + s.output_tokens * p[:, 3]
    priced = ~np.isnan(dollars)
    nano = np.where(priced, np.round(np.nan_to_num(dollars) * 1e9), 0).astype(np.int64)
    service = s.role % len(SERVICES)
    environment = rng.choice(len(ENVIRONMENTS), count, p=ENVIRONMENT_WEIGHTS)
    inline_quality = rng.random(count) < 0.10
    quality = np.where(inline_quality, rng.beta(8, 2, count), np.nan)
    start = s.start_ns
    error = s.error
    empty = _const("", count)
    columns = {
        "tenant": _const("default", count),
        "trace_id": trace_id, "span_id": span_id, "parent_span_id": _hex_ids(rng, count, 8),
        "name": _pick([f"chat {m}" for m in model_names], s.model),
        "start_time": pa.array(start, _TS), "end_time": pa.array(start + s.duration_ns, _TS),
        "status_code": _pick(["UNSET", "ERROR"], error.astype(int)),
        "error_type": _pick(["", "RateLimitError"], error.astype(int)),
        "service": _pick(SERVICES, service), "environment": _pick(ENVIRONMENTS, environment),
        "role": _pick(ROLES, s.role), "tier": _pick(["frontier", "mid", "small", "local"], tier_of[s.model]),
        "team": _pick(TEAMS, s.team), "feature": _pick(FEATURES, s.feature),
        "agent_name": _pick(["orchestrator", "research_agent", "support_agent", "coding_agent"], s.role % 4),
        "conversation_id": trace_id, "operation": _const("chat", count),
        "provider": _pick(providers, provider_of[s.model]), "request_model": _pick(model_names, s.model),
        "response_model": _pick(model_names, s.model), "model": _pick(model_names, s.model),
        "input_tokens": pa.array(s.input_tokens.astype(np.uint64)),
        "output_tokens": pa.array(s.output_tokens.astype(np.uint64)),
        "cache_read_tokens": pa.array(s.cache_read.astype(np.uint64)),
        "cache_write_tokens": pa.array(s.cache_write.astype(np.uint64)),
        "reasoning_tokens": pa.array(s.reasoning.astype(np.uint64)),
        "cost_usd": _nano_decimal(nano, priced), "priced": pa.array(priced),
        "price_source": _pick(["", "genai-prices"], priced.astype(int)),
        "price_version": _pick(["", "genai-prices bench"], priced.astype(int)),
        "quality_score": pa.array(quality, pa.float64(), from_pandas=True),
        "quality_source": _pick(["", "judge"], inline_quality.astype(int)),
        "router_policy_version": empty, "router_propensity": pa.nulls(count, pa.float64()),
        "router_explored": pa.array(np.zeros(count, bool)), "escalated_from": empty,
        "attributes": pa.MapArray.from_arrays(
            pa.array(np.arange(0, 2 * count + 1, 2, dtype=np.int32)),
            pa.array(np.tile(np.array(["server.address", "gen_ai.request.max_tokens"], dtype=object), count), pa.string()),
            pa.array(np.stack([np.array([f"api.{p}.com" for p in providers], dtype=object)[provider_of[s.model]],
                               np.full(count, "4096", dtype=object)], axis=1).ravel(), pa.string())),
        "ingested_at": pa.array(np.full(count, ingested_us, np.int64), pa.timestamp("us", tz="UTC")),
    }
    spans = pa.table(columns)
    late = np.flatnonzero(rng.random(count) < 0.05)
    events = pa.table({
        "tenant": _const("default", len(late)),
        "trace_id": trace_id.take(pa.array(late)), "span_id": span_id.take(pa.array(late)),
        "event_id": _hex_ids(rng, len(late), 8),
        "event_time": pa.array(start[late] + 3_600 * 10**9, _TS),
        "score": pa.array(rng.beta(6, 3, len(late))),
        "source": _const("user_feedback", len(late)),
        # a grade reaches the collector when it is given (an hour after the call), as user feedback does
        "ingested_at": pa.array((start[late] + 3_600 * 10**9) // 1000, pa.timestamp("us", tz="UTC")),
    })
    return spans, events


@dataclass
class BuiltStore:
    path: str
    spans: int
    seconds: float
    optimize_s: float
    parts: int
    trace_id: str  # one of the last hour's traces, for /traces/{id}
    rollup_s: float = 0.0  # filling the hourly rollup for every stored hour but the fresh one
    rollup_hours: int = 0
    rollup_rows: int = 0
    task_rows: int = 0  # rows of the per-task rollup (task_hourly)


def build_store(path: str, spans: int = 10_000_000, days: int = 90, chunk: int = 1_000_000, seed: int = 5) -> BuiltStore:
    """Generate `spans` spans over the last `days` days into a new store at `path` (in this process)."""
    from tierscope.collector.store import rollup
    from tierscope.collector.store.clickhouse import Store

    t0 = time.monotonic()
    store = Store(f"chdb:{path}")
    store.migrate()
    rng = np.random.default_rng(seed)
    prices = _model_prices()
    end_ns = (time.time_ns() // 3_600_000_000_000) * 3_600_000_000_000  # the top of this hour
    fresh = min(1_000_000, spans // 10)  # the last hour: live ingest, left unmerged
    begin = end_ns - days * _DAY_NS
    old = spans - fresh
    step = (end_ns - 3_600 * 10**9 - begin) // max(1, -(-old // chunk))
    now_us = time.time_ns() // 1000
    done, k = 0, 0
    while done < old:
        n = min(chunk, old - done)
        table, events = store_chunk(rng, n, begin + k * step, step, prices, now_us)
        store.insert("llm_spans", table)  # as the writer does: stamps the hours it changes
        store.insert("quality_events", events)
        done, k = done + n, k + 1
    t1 = time.monotonic()
    store.command("OPTIMIZE TABLE llm_spans FINAL")
    store.command("OPTIMIZE TABLE quality_events FINAL")
    optimize_s = time.monotonic() - t1
    t2 = time.monotonic()
    rollup_hours = rollup.refresh(store)  # what a collector's refresher does in the background
    rollup_s = time.monotonic() - t2
    trace_id = ""
    if fresh:
        for _ in range(4):  # a few parts, as the writer's inserts leave them
            table, events = store_chunk(rng, fresh // 4, end_ns - 3_600 * 10**9, 3_600 * 10**9, prices, now_us)
            trace_id = table["trace_id"][0].as_py()
            store.insert("llm_spans", table)
            store.insert("quality_events", events)
        # the refresher at :56: every unit to :55 summed, the hour (not ended) and its last unit not
        rollup.refresh(store, now=datetime.fromtimestamp(end_ns / 1e9, UTC) - rollup.UNIT + rollup.SETTLE)
    parts = store.rows("SELECT count() FROM system.parts WHERE table = 'llm_spans' AND active")[0][0]
    rollup_rows = store.rows("SELECT count() FROM spend_rollup")[0][0]
    task_rows = store.rows("SELECT count() FROM task_rollup")[0][0]
    store.close()
    return BuiltStore(path, spans, time.monotonic() - t0, optimize_s, int(parts), trace_id, rollup_s, rollup_hours,
                      int(rollup_rows), int(task_rows))


def dashboard_requests(now: datetime, trace_id: str) -> list[tuple[str, str, dict[str, str]]]:
    """(label, path, params): what the dashboard asks for on its default scope (last 30 days),
    cheapest first, so a slow store still gets most of them measured within the time budget."""
    since = (now.replace(minute=0, second=0, microsecond=0) - timedelta(days=30)).isoformat()
    return [
        ("traces/{id}", f"/api/v1/traces/{trace_id}", {}),
        ("spans drill-down (tier+model)", "/api/v1/spans", {"since": since, "tier": "frontier", "model": "gpt-4o",
                                                            "limit": "100"}),
        ("filters", "/api/v1/filters", {"since": since}),
        ("spend by role", "/api/v1/spend", {"since": since, "by": "role"}),
        ("spend by role,tier,model", "/api/v1/spend", {"since": since, "by": "role,tier,model"}),
        ("spend/timeseries hour by role", "/api/v1/spend/timeseries", {"since": since, "bucket": "hour", "split": "role"}),
        ("spend/timeseries day by tier", "/api/v1/spend/timeseries", {"since": since, "bucket": "day", "split": "tier"}),
        ("month close (this month vs last)", "/api/v1/month", {"month": now.strftime("%Y-%m")}),
        ("misrouted", "/api/v1/misrouted", {"since": since}),
        ("cost per task by day", "/api/v1/tasks", {"since": since, "bucket": "day"}),
        ("dearest tasks", "/api/v1/tasks/top", {"since": since, "limit": "20"}),
    ]


@dataclass
class EndpointTiming:
    label: str
    runs: int
    p50_ms: float
    p95_ms: float
    note: str = ""
    samples_ms: list[float] = field(default_factory=list)  # the timed runs, warm-up dropped


def time_endpoints(collector: CollectorProcess, trace_id: str, *, runs: int = 15, endpoint_budget_s: float = 20.0,
                   budget_s: float = 240.0) -> list[EndpointTiming]:
    """p50/p95 of each dashboard request over up to `runs` runs after one warm-up. An endpoint over
    3 s is run once (its p50 = p95 = that run); none is started once `budget_s` is spent, and the
    one running then is cut off (it would still hold the store, so it is the last)."""
    import httpx

    out = []
    deadline = time.monotonic() + budget_s
    for label, path, params in dashboard_requests(datetime.now(UTC), trace_id):
        if any(t.note.startswith("over") for t in out):
            out.append(EndpointTiming(label, 0, float("nan"), float("nan"), "not measured: the store was still busy"))
            continue
        times: list[float] = []
        note = ""
        started = time.monotonic()
        while len(times) <= runs:
            left = deadline - time.monotonic()
            if left <= 1:
                note = note or ("" if times else f"not measured: the section's {budget_s:.0f} s budget is spent")
                break
            t0 = time.monotonic()
            try:
                response = httpx.get(f"{collector.url}{path}", params=params, timeout=left)
            except httpx.TimeoutException:
                note = f"over {time.monotonic() - t0:.0f} s (cut off at the end of the budget)"
                break
            if response.status_code != 200:
                note = "endpoint not present" if response.status_code == 404 else f"HTTP {response.status_code}"
                break
            times.append(time.monotonic() - t0)
            if len(times) == 1 and times[0] > 3:
                note = "one run (over 3 s)"
                break
            if time.monotonic() - started > endpoint_budget_s and len(times) >= 4:
                break
        if len(times) > 2:
            times = times[1:]  # drop the warm-up
        ms = np.array(times) * 1000 if times else np.array([np.nan])
        out.append(EndpointTiming(label, len(times), float(np.percentile(ms, 50)), float(np.percentile(ms, 95)), note,
                                  [float(x) for x in ms if x == x]))
    return out


def spend_total(collector: CollectorProcess) -> tuple[int, Decimal]:
    total = collector.get("/api/v1/spend", by="role")["total"]
    return int(total["spans"]), Decimal(total["cost_usd"])
