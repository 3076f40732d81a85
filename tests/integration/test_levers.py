"""The routing levers per role (GET /api/v1/levers): tier shares, escalation and failover rates and
their cost, spend, prompt-cache savings and batch savings — each equal to a computation from the raw
spans to the last decimal, whether read from raw spans or the hourly rollup.

Rows go into a real chdb store through the collector's own pricing (`spans_table`); the savings are
checked against genai-prices' own `calc_price` span by span, not against tierscope's pricer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from genai_prices import Usage, calc_price

from tierscope.collector.ingest.normalize import Normalized
from tierscope.collector.ingest.rows import spans_table
from tierscope.collector.pricing.prices import Pricer
from tierscope.collector.pricing.reprice import reprice_table
from tierscope.collector.read.levers import levers
from tierscope.collector.recommender.policy_file import PolicyFileError, parse_policy
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import BadParameter
from tests.support import settle_rollup

# After genai-prices' batch prices start (2026-10-14), so batch savings are not zero.
T0 = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)
RANGE = {"since": "2026-11-10T00:00:00Z", "until": "2026-11-12T00:00:00Z"}
POLICY = "version: 1\nroles:\n  summarizer: {deadline: async}\n"

# role, tier, model, provider, input, output, cache_read, minute offset, extra columns
CALLS = [
    ("worker", "frontier", "gpt-4o", "openai", 12_000, 800, 9_000, 0, {}),
    ("worker", "frontier", "gpt-4o", "openai", 8_000, 300, 0, 5, {}),
    ("worker", "mid", "gpt-4o-mini", "openai", 5_000, 400, 1_024, 7, {}),
    ("worker", "frontier", "gpt-4o", "openai", 5_000, 400, 0, 8, {"escalated_from": "gpt-4o-mini"}),
    ("worker", "mid", "gpt-4o-mini", "openai", 2_000, 100, 0, 70, {"status_code": "ERROR", "error_type": "429"}),
    ("worker", "mid", "gpt-4.1-mini", "openai", 2_000, 100, 0, 71,
     {"failover_from": "gpt-4o-mini", "failover_reason": "rate_limited"}),
    ("summarizer", "frontier", "claude-sonnet-4-5", "anthropic", 30_000, 2_000, 20_000, 20, {}),
    ("summarizer", "frontier", "claude-sonnet-4-5", "anthropic", 40_000, 1_000, 0, 24 * 60 + 3, {}),
    ("summarizer", "frontier", "claude-sonnet-4-5", "anthropic", 10_000, 500, 0, 24 * 60 + 4, {"processing": "batch"}),
    ("formatter", "small", "gpt-4o-mini", "openai", 900, 50, 0, 30, {"deadline": "async"}),
    ("formatter", "local", "my-own-llama", "", 900, 50, 0, 31, {}),
]


def normalized() -> Normalized:
    rows = Normalized()
    for i, (role, tier, model, provider, inp, out, cached, minute, extra) in enumerate(CALLS, 1):
        start = int((T0 + timedelta(minutes=minute)).timestamp()) * 1_000_000_000
        values = {"trace_id": f"{i:032x}", "span_id": f"{i:016x}", "name": f"chat {model}", "start_time": start,
                  "end_time": start + 2_000_000_000, "status_code": "OK", "service": "agents",
                  "environment": "prod", "role": role, "tier": tier, "team": "core", "operation": "chat",
                  "provider": provider, "request_model": model, "model": model, "input_tokens": inp,
                  "output_tokens": out, "cache_read_tokens": cached, "quality_score": None,
                  "router_propensity": None, "router_explored": False, "attributes": {}, **extra}
        for key, column in rows.spans.items():
            column.append(values.get(key, 0 if key.endswith("_tokens") else ""))
    return rows


def spans_with(store: Store) -> Store:
    table = spans_table(normalized(), "default", Pricer(), 1)
    store.insert("llm_spans", table)
    store.insert("llm_spans", spans_table(normalized(), "default", Pricer(), 2))  # a retried batch: counted once
    return store


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(f"chdb:{tmp_path / 'store'}")
    store.migrate()
    yield spans_with(store)
    store.close()


def expected_savings(role: str) -> tuple[Decimal, Decimal]:
    """(cache saving, batch saving) of a role's priced calls, from genai-prices' calc_price."""
    cache = batch = Decimal(0)
    for r, _, model, provider, inp, out, cached, minute, extra in CALLS:
        if r != role or not provider:
            continue
        when = T0 + timedelta(minutes=minute)
        price = lambda usage, **kw: calc_price(usage, model, provider_id=provider,  # noqa: E731
                                              genai_request_timestamp=when, **kw).total_price
        usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached)
        paid = price(usage, price_context={"processing": "batch"} if extra.get("processing") else None)
        cache += price(Usage(input_tokens=inp, output_tokens=out)) - price(usage) if cached else 0
        if not extra.get("processing"):
            batch += paid - price(usage, price_context={"processing": "batch"})
    return cache, batch


def raw(store: Store, sql: str) -> list[tuple]:
    return store.rows(sql.replace("SPANS", "(SELECT * FROM llm_spans FINAL WHERE tenant = 'default')"))


def check_against_raw(store: Store, body: dict) -> None:
    roles = {r["role"]: r for r in body["roles"]}
    assert sorted(roles) == ["formatter", "summarizer", "worker"]
    for role, calls, cost, escalated, esc_cost, failovers, fo_cost, inp, cached in raw(store, """
            SELECT role, count(), ifNull(sum(cost_usd), 0), countIf(escalated_from != ''),
                   ifNull(sumIf(cost_usd, escalated_from != ''), 0), countIf(failover_from != ''),
                   ifNull(sumIf(cost_usd, failover_from != ''), 0), sum(input_tokens), sum(cache_read_tokens)
            FROM SPANS GROUP BY role"""):
        got = roles[role]
        assert (got["spans"], Decimal(got["cost_usd"])) == (calls, cost)
        assert (got["escalations"]["spans"], Decimal(got["escalations"]["cost_usd"])) == (escalated, esc_cost)
        assert (got["failovers"]["spans"], Decimal(got["failovers"]["cost_usd"])) == (failovers, fo_cost)
        original = calls - escalated - failovers
        assert got["escalations"]["rate"] == escalated / original
        assert got["failovers"]["rate"] == failovers / original
        assert got["cache"]["read_share"] == cached / inp
        cache, batch = expected_savings(role)
        assert (Decimal(got["cache"]["saving_usd"]), Decimal(got["batch"]["saving_usd"])) == (cache, batch)
    for role, tier, calls, cost in raw(store, "SELECT role, tier, count(), ifNull(sum(cost_usd), 0) FROM SPANS "
                                              "GROUP BY role, tier"):
        share = roles[role]["tiers"][tier]
        assert (share["spans"], Decimal(share["cost_usd"])) == (calls, cost)
        assert share["share"] == calls / roles[role]["spans"]
    daily = {(s["bucket"][:10], s["role"], s["tier"]): s for s in body["series"]}
    for day, role, tier, calls, cost, escalated, failovers in raw(store, """
            SELECT toString(toDate(start_time)), role, tier, count(), ifNull(sum(cost_usd), 0),
                   countIf(escalated_from != ''), countIf(failover_from != '') FROM SPANS GROUP BY ALL"""):
        s = daily[(day, role, tier)]
        assert (s["spans"], Decimal(s["cost_usd"]), s["escalated_spans"], s["failover_spans"]) == (
            calls, cost, escalated, failovers)
    assert len(daily) == len(raw(store, "SELECT DISTINCT toDate(start_time), role, tier FROM SPANS"))


def test_levers_equal_raw_spans_from_raw_and_rollup(store):
    body = levers(store, RANGE, "default", policy_file="")
    check_against_raw(store, body)
    assert settle_rollup(store) > 0
    from_rollup = levers(store, RANGE, "default", policy_file="")
    check_against_raw(store, from_rollup)
    assert from_rollup["roles"] == body["roles"] and from_rollup["series"] == body["series"]


def test_exact_figures(store):
    roles = {r["role"]: r for r in levers(store, RANGE, "default")["roles"]}
    worker = roles["worker"]
    # 6 calls, 4 of them originals: one escalation retry, one failover retry
    assert worker["escalations"]["rate"] == worker["failovers"]["rate"] == 0.25
    assert {t: s["spans"] for t, s in worker["tiers"].items()} == {"frontier": 3, "mid": 3}
    # gpt-4o reads 9,000 cached tokens at $1.25 instead of $2.50 per MTok; gpt-4o-mini 1,024 at $0.075 off $0.15
    assert Decimal(worker["cache"]["saving_usd"]) == Decimal("0.01125") + Decimal("0.0000768")
    assert roles["formatter"]["unpriced_spans"] == 1  # the local model: unpriced, not $0
    assert roles["formatter"]["tiers"]["local"]["spans"] == 1


def test_latency_tolerant_roles(store, tmp_path):
    policy = tmp_path / "routing-policy.yaml"
    policy.write_text(POLICY)
    roles = {r["role"]: r for r in levers(store, RANGE, "default", policy_file=str(policy))["roles"]}
    assert roles["summarizer"]["batch"] | {"saving_usd": None} == {
        "latency_tolerant": True, "marked_by": "policy file", "async_spans": 0, "saving_usd": None}
    assert roles["formatter"]["batch"]["marked_by"] == "spans" and roles["formatter"]["batch"]["async_spans"] == 1
    assert roles["worker"]["batch"]["latency_tolerant"] is False
    # The summarizer's batch call is already at the batch price: it saves nothing more; the others half.
    cache, batch = expected_savings("summarizer")
    assert Decimal(roles["summarizer"]["batch"]["saving_usd"]) == batch > 0


def test_bad_input(store, tmp_path):
    with pytest.raises(BadParameter, match="bucket"):
        levers(store, {**RANGE, "bucket": "fortnight"}, "default")
    with pytest.raises(PolicyFileError, match="deadline must be one of async, interactive"):
        parse_policy("roles:\n  x: {deadline: soon}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("roles:\n  x: {deadline: soon}\n")
    with pytest.raises(BadParameter, match="deadline"):
        levers(store, RANGE, "default", policy_file=str(bad))


def test_reprice_fills_savings_of_rows_stored_without_them(store):
    rows = store.arrow("SELECT * FROM llm_spans FINAL ORDER BY span_id")
    blank = rows
    for name in ("cache_saving_usd", "batch_saving_usd"):  # as a row stored before migration 0015 reads
        index = blank.schema.get_field_index(name)
        blank = blank.set_column(index, name, pa.nulls(rows.num_rows, rows.schema.field(name).type))
    fresh, changed = reprice_table(blank, Pricer(), 10**16)
    assert changed == sum(1 for c in CALLS if c[3])  # every priced row lacked its savings
    for name in ("cache_saving_usd", "batch_saving_usd"):
        assert fresh[name].to_pylist() == rows[name].to_pylist()
