"""Misrouted frontier calls: policy violations and evidence-based findings, with exact savings.

Rows go into a real chdb store through the collector's own pricing (`spans_table`), so every
cost in the store is what ingest would have written; one test goes end to end over HTTP with the
OpenTelemetry SDK.
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tierscope.collector.read.misrouted import misrouted_report, wilson
from tierscope.collector.ingest.normalize import Normalized
from tierscope.collector.recommender.policy_file import PolicyFileError, load_policy, parse_policy
from tierscope.collector.pricing.prices import Pricer
from tierscope.collector.ingest.rows import spans_table
from tierscope.collector.store.clickhouse import Store

JUNE = int(datetime(2025, 6, 10, 12, tzinfo=UTC).timestamp()) * 1_000_000_000
POLICY = """
version: 3
quality_floor: 0.8
models:
  mid: [{model: claude-3-5-haiku-latest, provider: anthropic}]
roles:
  router: {allowed_tiers: [small, mid]}
  critic: {pinned_model: gpt-4o, allowed_tiers: [small]}
"""


def add_calls(rows: Normalized, n: int, role: str, tier: str, model: str, provider: str,
              input_tokens: int = 1000, output_tokens: int = 200, quality: float | None = None) -> None:
    s = rows.spans
    for _ in range(n):
        i = rows.span_count + 1
        values = {"trace_id": f"{i:032x}", "span_id": f"{i:016x}", "parent_span_id": "", "name": f"chat {model}",
                  "start_time": JUNE + i * 1_000_000_000, "end_time": JUNE + i * 1_000_000_000 + 5,
                  "status_code": "OK", "service": "agents", "environment": "prod", "role": role, "tier": tier,
                  "team": "core", "operation": "chat", "provider": provider, "request_model": model,
                  "model": model, "input_tokens": input_tokens, "output_tokens": output_tokens,
                  "quality_score": quality, "quality_source": "judge" if quality is not None else "",
                  "router_propensity": None, "router_explored": False, "attributes": {}}
        for key, column in s.items():
            column.append(values.get(key, 0 if key.endswith("_tokens") else ""))


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(f"chdb:{tmp_path / 'store'}")
    store.migrate()
    rows = Normalized()
    # formatter: frontier calls, and a small tier that clearly meets the 0.8 floor (n=40, mean .95)
    add_calls(rows, 10, "formatter", "frontier", "gpt-4o", "openai")
    add_calls(rows, 40, "formatter", "small", "gpt-4o-mini", "openai", quality=0.95)
    # summarizer: frontier calls, but its small tier misses the floor (mean .6)
    add_calls(rows, 5, "summarizer", "frontier", "gpt-4o", "openai")
    add_calls(rows, 40, "summarizer", "small", "gpt-4o-mini", "openai", quality=0.6)
    # critic: pinned to gpt-4o; its small tier would pass and its policy tiers would be violated
    add_calls(rows, 5, "critic", "frontier", "gpt-4o", "openai")
    add_calls(rows, 50, "critic", "small", "gpt-4o-mini", "openai", quality=0.99)
    # router: policy allows small and mid; frontier calls violate it. o3-mini is an observed mid model.
    add_calls(rows, 4, "router", "frontier", "claude-sonnet-4-5", "anthropic", 2000, 500)
    add_calls(rows, 3, "planner", "mid", "o3-mini", "openai")
    store.insert("llm_spans", spans_table(rows, "default", Pricer(), time.time_ns() // 1000))
    yield store
    store.close()


def report(store: Store, policy_text: str = POLICY, **q: str) -> dict:
    return misrouted_report(store, "default", q, parse_policy(policy_text, "routing-policy.yaml"), Pricer())


def by_role(result: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in result["rows"]:
        out.setdefault(row["role"], []).append(row)
    return out


def test_evidence_flags_frontier_calls_with_the_exact_saving(store):
    rows = by_role(report(store))["formatter"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["kind"], row["tier"], row["model"], row["calls"]) == ("evidence", "frontier", "gpt-4o", 10)
    assert (row["target_tier"], row["target_model"]) == ("small", "gpt-4o-mini")
    # gpt-4o: 1000 x $2.50/MTok + 200 x $10/MTok = $0.0045; gpt-4o-mini: $0.00015 + $0.00012 = $0.00027
    assert Decimal(row["cost_usd"]) == Decimal("0.045")
    assert Decimal(row["target_cost_usd"]) == Decimal("0.0027")
    assert Decimal(row["saving_usd"]) == Decimal("0.0423")
    assert row["quality_n"] == 40 and row["quality_low"] >= 0.8 and row["quality_low"] < row["quality_mean"]
    assert row["quality_low"] == pytest.approx(wilson(0.95, 40)[0])
    assert row["drill_down"] == {"endpoint": "spans", "params": {
        "role": "formatter", "tier": "frontier", "model": "gpt-4o", "provider": "openai"}}


def test_small_tier_below_the_floor_flags_nothing(store):
    result = report(store)
    assert "summarizer" not in by_role(result)
    evidence = [e for e in result["evidence"] if e["role"] == "summarizer"]
    assert evidence and not any(e["meets_floor"] for e in evidence)
    assert evidence[0]["quality_high"] < 0.8  # shown with its interval, n and floor
    assert evidence[0]["quality_n"] == 40 and evidence[0]["quality_floor"] == 0.8


def test_pinned_role_is_never_flagged(store):
    result = report(store)
    assert "critic" not in by_role(result)
    assert not [e for e in result["evidence"] if e["role"] == "critic"]
    assert result["policy"]["pinned_roles"] == ["critic"]
    # Without the pin the same critic calls are a policy violation.
    unpinned = report(store, POLICY.replace("pinned_model: gpt-4o, ", ""))
    assert by_role(unpinned)["critic"][0]["kind"] == "policy"


def test_policy_violation_reprices_on_the_cheapest_model_of_the_highest_allowed_tier(store):
    row = by_role(report(store))["router"][0]
    assert (row["kind"], row["calls"], row["target_tier"]) == ("policy", 4, "mid")
    # claude-sonnet-4-5: 2000 x $3 + 500 x $15 per MTok = $0.0135 a call. Mid candidates: o3-mini
    # (observed, $0.0044 a call) and claude-3-5-haiku-latest (declared, $0.0016 + $0.002 = $0.0036).
    assert (row["target_model"], row["target_provider"]) == ("claude-3-5-haiku-latest", "anthropic")
    assert Decimal(row["cost_usd"]) == Decimal("0.054")
    assert Decimal(row["saving_usd"]) == Decimal("0.0396")
    assert "policy 3" in row["reason"]


def test_rows_are_ranked_by_saving_and_totals_are_exact(store):
    result = report(store)
    savings = [Decimal(r["saving_usd"]) for r in result["rows"]]
    assert savings == sorted(savings, reverse=True)
    assert Decimal(result["total_saving_usd"]) == sum(savings) == Decimal("0.0819")
    assert result["flagged_calls"] == 14


def test_a_higher_floor_withdraws_the_evidence(store):
    strict = POLICY.replace("roles:\n", "roles:\n  formatter: {quality_floor: 0.97}\n")
    assert "formatter" not in by_role(report(store, strict))


def test_role_filter_and_time_scope(store):
    assert set(by_role(report(store, role="router"))) == {"router"}
    assert report(store, since="2025-07-01T00:00:00Z")["rows"] == []


def test_wilson_interval():
    low, high = wilson(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson(1.0, 3)[0] < 0.5  # three perfect scores are not proof
    assert wilson(0.0, 0) == (0.0, 1.0)


def test_policy_file_is_strict(tmp_path):
    assert not load_policy(tmp_path / "missing.yaml").found
    with pytest.raises(PolicyFileError, match="unknown tier 'huge'"):
        parse_policy("roles: {a: {allowed_tiers: [huge]}}")
    with pytest.raises(PolicyFileError, match="unknown key 'allowed_tier'"):
        parse_policy("roles: {a: {allowed_tier: [small]}}")
    with pytest.raises(PolicyFileError, match=r"quality_floor must be a number in \[0, 1\]"):
        parse_policy("quality_floor: 3")
    path = tmp_path / "p.yaml"
    path.write_text(POLICY)
    policy = load_policy(path)
    assert policy.version == "3" and policy.sha256 and policy.role("router").ceiling == "mid"


# --- end to end: OTel SDK -> collector -> GET /api/v1/misrouted ----------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_endpoint_over_http(tmp_path, monkeypatch):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from tierscope.client import ApiClient, ApiError
    from tierscope.collector.server.background import BackgroundCollector
    from tierscope.settings import Settings

    policy = tmp_path / "routing-policy.yaml"
    policy.write_text(POLICY)
    monkeypatch.setenv("TIERSCOPE_POLICY_FILE", str(policy))
    settings = Settings(store=f"chdb:{tmp_path / 'store'}", http_port=_free_port(), grpc_port=0, prices_file="")
    with BackgroundCollector(settings) as collector:
        provider = TracerProvider(resource=Resource.create({"service.name": "agents"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces"),
                                                       max_queue_size=100_000))
        tracer = provider.get_tracer("test")
        calls = [("formatter", "gpt-4o", "openai", None)] * 6 + [("formatter", "gpt-4o-mini", "openai", 0.97)] * 60
        for i, (role, model, vendor, quality) in enumerate(calls):
            attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": vendor,
                          "gen_ai.request.model": model, "gen_ai.usage.input_tokens": 1000,
                          "gen_ai.usage.output_tokens": 200, "tierscope.role": role, "tierscope.team": "core"}
            if quality is not None:
                attributes["tierscope.quality.score"] = quality
            span = tracer.start_span(f"chat {model}", start_time=JUNE + i * 10**9, attributes=attributes)
            span.end(end_time=JUNE + i * 10**9 + 10**6)
        provider.force_flush()
        provider.shutdown()

        api = ApiClient(collector.url)
        result = api.get("misrouted")
        assert result["policy"]["version"] == "3" and result["policy"]["found"]
        [row] = result["rows"]
        assert row["saving_usd"] == "0.02538"  # 6 x ($0.0045 - $0.00027), as an exact decimal string
        assert row["target_model"] == "gpt-4o-mini" and row["quality_n"] == 60
        spans = api.get("spans", **row["drill_down"]["params"])["rows"]
        assert len(spans) == 6 and {s["model"] for s in spans} == {"gpt-4o"}
        with pytest.raises(ApiError, match="confidence"):
            api.get("misrouted", confidence="2")
        policy.write_text("roles: {x: {allowed_tiers: [gigantic]}}")
        with pytest.raises(ApiError, match="routing policy: .*unknown tier"):
            api.get("misrouted")
        api.close()


def test_hourly_repricing_equals_per_call_repricing(tmp_path):
    """The fast path (token sums per hour x one linear price) and the per-call path give the same
    saving to the last decimal, on calls with random tokens over many hours, some unpriced; targets
    whose price is not one linear price for all time (context tiers, time of day) take the per-call path."""
    import numpy as np

    from tierscope.collector.read.misrouted import Target, _calls
    from tierscope.collector.read.api import scope

    store = Store(f"chdb:{tmp_path / 'store'}")
    store.migrate()
    rng = np.random.default_rng(3)
    rows = Normalized()
    for model, provider in (("gpt-4o", "openai"), ("claude-sonnet-4-5", "anthropic"), ("in-house", "acme")):
        before = rows.span_count
        add_calls(rows, 300, "worker", "frontier", model, provider)
        for i in range(before, rows.span_count):
            rows.spans["start_time"][i] = JUNE + int(rng.integers(0, 72 * 3600)) * 1_000_000_000
            rows.spans["input_tokens"][i] = int(rng.integers(1, 400_000))
            rows.spans["output_tokens"][i] = int(rng.integers(1, 5_000))
            rows.spans["cache_read_tokens"][i] = int(rng.integers(0, rows.spans["input_tokens"][i] // 2 + 1))
    store.insert("llm_spans", spans_table(rows, "default", Pricer(), time.time_ns() // 1000))
    pricer = Pricer()
    groups = _calls(store, {**scope({}, "default"), "tiers": ["frontier"], "model": "", "provider": ""})
    assert [(c.model, c.calls) for c in groups] == [("claude-sonnet-4-5", 300), ("gpt-4o", 300), ("in-house", 300)]
    targets = [Target("small", "gpt-4o-mini", "openai"), Target("mid", "claude-3-5-haiku-latest", "anthropic"),
               Target("small", "unknown-model", "acme")]
    for c in groups:
        assert c.hourly.num_rows < c.calls  # summed per hour
        for t in targets:
            assert pricer.constant_linear(t.model, t.provider)
            assert c._saving_hourly(pricer, t) == c._saving_per_call(pricer, t), (c.model, t.model)
    assert not pricer.constant_linear("gemini-2.5-pro", "google")  # context-tiered
    assert not pricer.constant_linear("deepseek-chat", "deepseek")  # time-of-day prices
    assert groups[0]._saving_per_call(pricer, targets[0])[2] == 300  # every priced call repriced
    assert groups[2]._saving_hourly(pricer, targets[0]) == (Decimal(0), Decimal(0), 0)  # unpriced actuals
    store.close()


def test_hours_from_the_rollup_equal_the_raw_hours(tmp_path):
    """Misrouted calls' per-hour token sums come from the hourly rollup for clean hours: equal to the
    raw query before the rollup is refreshed, after, and with an hour whose calls of one model are
    partly unpriced (the rollup cannot split their tokens, so that hour alone is read raw)."""
    import numpy as np
    import pyarrow as pa

    from tierscope.collector.store import rollup
    from tierscope.collector.read.api import scope
    from tierscope.collector.read.misrouted import _CALL_KEYS, _HOURS_SCHEMA, _hours

    store = Store(f"chdb:{tmp_path / 'store'}")
    store.migrate()
    rng = np.random.default_rng(5)
    rows = Normalized()
    for model, provider, tier in (("gpt-4o", "openai", "frontier"), ("in-house", "acme", "frontier"),
                                  ("o3-mini", "openai", "mid"), ("gpt-4o-mini", "openai", "small")):
        before = rows.span_count
        add_calls(rows, 200, "worker", tier, model, provider)
        for i in range(before, rows.span_count):
            rows.spans["start_time"][i] = JUNE + int(rng.integers(0, 48 * 3600)) * 1_000_000_000
            rows.spans["input_tokens"][i] = int(rng.integers(1, 100_000))
            rows.spans["cache_read_tokens"][i] = int(rng.integers(0, rows.spans["input_tokens"][i] // 2 + 1))
    store.insert("llm_spans", spans_table(rows, "default", Pricer(), time.time_ns() // 1000))
    since, until = datetime.fromtimestamp(JUNE // 10**9, UTC), datetime.fromtimestamp(JUNE // 10**9 + 49 * 3600, UTC)
    params = {**scope({"since": since.isoformat(), "until": until.isoformat()}, "default"), "tiers": ["frontier", "mid"]}
    raw_calls: list[dict] = []
    query_arrow = store.query_arrow

    def spy(name: str, p: dict, over_rollup: bool = False) -> pa.Table:
        if name == "misrouted_hours" and not over_rollup:
            raw_calls.append(p)
        return query_arrow(name, p, over_rollup)

    store.query_arrow = spy

    def both() -> tuple[pa.Table, pa.Table]:
        raw_calls.clear()
        mine = _hours(store, params)
        reads = len(raw_calls)
        whole = query_arrow("misrouted_hours", params).drop_columns(["mixed"]).cast(_HOURS_SCHEMA)
        whole = whole.sort_by([(k, "ascending") for k in (*_CALL_KEYS, "start_ns")])
        raw_calls[:] = raw_calls[:reads]
        return mine, whole

    mine, whole = both()  # nothing refreshed: every hour is read raw
    assert mine.num_rows > 48 and mine.equals(whole) and len(raw_calls) == 1
    assert rollup.refresh(store) == 48
    mine, whole = both()
    assert mine.equals(whole) and raw_calls == []  # all from the rollup

    # Half of one hour's gpt-4o calls lose their price (as a price that starts mid-hour would leave them).
    hour = datetime.fromtimestamp(JUNE // 10**9 + 5 * 3600, UTC)
    store.command("INSERT INTO llm_spans SELECT * REPLACE (false AS priced, CAST(NULL, 'Nullable(Decimal(38, 18))') "
                  "AS cost_usd, span_id || 'u' AS span_id) FROM llm_spans WHERE model = 'gpt-4o' AND "
                  "toStartOfHour(start_time) = {h:DateTime('UTC')} AND cityHash64(trace_id) % 2 = 0", {"h": hour})
    store.mark_units(pa.table({"tenant": ["default"], "start_time": pa.array([hour], pa.timestamp("ns", tz="UTC"))}))
    assert rollup.refresh(store) == 1
    mine, whole = both()
    mixed = query_arrow("misrouted_hours", {**params, "h0": since, "h1": until, "dirty": [], "units": []},
                        over_rollup=True)
    assert pa.compute.sum(mixed["mixed"]).as_py() == 1  # the rollup row of that hour is partly priced
    assert mine.equals(whole) and [(p["since"], p["until"]) for p in raw_calls] == [(hour, hour + rollup.HOUR)]
    store.close()
