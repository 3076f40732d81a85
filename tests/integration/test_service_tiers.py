"""Issue 16: every call priced as billed. A call's service tier (OpenAI priority/flex/default, Anthropic's
usage.service_tier) and batch processing select genai-prices' price variants, exactly as
`calc_price(..., price_context=...)` prices them; unknown tiers are priced at the default and counted;
failed calls cost what the provider reported; `reprice` re-costs history that carries a tier."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest
import numpy as np
import pyarrow as pa
from click.testing import CliRunner
from pathlib import Path
from streamlit.testing.v1 import AppTest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from support import running_collector
from test_ingest_semantics import START, _finished_spans, _llm
from test_misrouted import add_calls
from tierscope.cli import main
from tierscope.cli.export import export as export_command
from tierscope.client import ApiClient
from tierscope.collector.ingest.normalize import Normalized, normalize
from tierscope.collector.read.misrouted import misrouted_report
from tierscope.collector.recommender.policy_file import parse_policy
from tierscope.collector.ingest.rows import spans_table
from tierscope.collector.pricing.prices import Pricer, price_context
from tierscope.collector.pricing.reprice import reprice_store
from tierscope.collector.store.clickhouse import Store
from tierscope.demo.fake_provider import fake_headers
from tierscope.instrumentation import conventions as c
from tierscope.instrumentation import llm_call
from tierscope.settings import Settings

SINCE = "2026-01-01T00:00:00Z"
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
# (model, service tier attribute, tier value, processing): every kind of call the issue names.
CALLS = [
    ("gpt-5", c.OPENAI_RESPONSE_SERVICE_TIER, "priority", ""),
    ("gpt-5", c.OPENAI_RESPONSE_SERVICE_TIER, "flex", ""),
    ("gpt-5", c.OPENAI_RESPONSE_SERVICE_TIER, "default", ""),
    ("gpt-5", None, "", "batch"),
    ("gpt-4o", c.OPENAI_REQUEST_SERVICE_TIER, "priority", ""),
    ("gpt-4o", None, "", "batch"),
    ("gpt-4o", None, "", ""),
    ("gpt-5", c.OPENAI_RESPONSE_SERVICE_TIER, "turbo", ""),  # unknown: the default price, counted
]
TOKENS = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}


def _expected(model: str, tier: str, processing: str, ts_ns: int, cache_read: int = 300_000,
              input_tokens: int = 1_000_000, output_tokens: int = 1_000_000) -> Decimal:
    context = {k: v for k, v in (("service_tier", tier), ("processing", processing)) if v and v != "turbo"}
    return calc_price(Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cache_read),
                      model_ref=model, provider_id="openai", price_context=context or None,
                      genai_request_timestamp=datetime.fromtimestamp(ts_ns / 1e9, UTC)).total_price


def _spec(model, key, tier, processing, i):
    extra = {c.USAGE_CACHE_READ_INPUT_TOKENS: 300_000}
    if key:
        extra[key] = tier
    if processing:
        extra[c.PROCESSING] = processing
    return _llm(model=model, role=f"r{i % 3}", **TOKENS, **extra)


def _post(collector, spans) -> None:
    body = encode_spans(spans).SerializeToString()
    response = httpx.post(f"{collector.url}/v1/traces", content=body,
                          headers={"content-type": "application/x-protobuf"}, timeout=30)
    assert response.status_code == 200, response.text


def test_otlp_spans_are_priced_at_their_tier_and_spend_by_role_matches(tmp_path):
    spans = _finished_spans([_spec(*call, i) for i, call in enumerate(CALLS)])
    with running_collector(tmp_path / "s") as collector:
        _post(collector, spans)
        api = ApiClient(collector.url)
        rows = {r["name"]: r for r in api.get("spans", since=SINCE, limit=100)["rows"]}
        by_role = json.loads(CliRunner().invoke(main, ["spend", "--by", "role", "--format", "json", "--since", SINCE,
                                                       "--api", collector.url]).output)
        by_tier = api.get("spend", by="service_tier,processing", since=SINCE)
        stats = api.get("stats")
        month = api.get("month", month="2026-11", by="service_tier,processing")
        export = CliRunner().invoke(export_command, ["--month", "2026-11", "--format", "csv", "--out",
                                                     str(tmp_path / "bi"), "--api", collector.url])
        assert export.exit_code == 0, export.output
    expected = {}
    for i, (model, _, tier, processing) in enumerate(CALLS):
        row = rows[f"chat {i}"]
        expected[i] = _expected(model, tier, processing, START + i * 1000)
        assert Decimal(row["cost_usd"]) == expected[i], CALLS[i]
        assert (row["service_tier"], row["processing"]) == (tier, processing)
    # The numbers (1M in + 1M out, 300k of the input cached): priority is twice default, flex and batch half.
    assert expected[0] == 2 * expected[2] and expected[1] == expected[3] == expected[2] / 2
    assert expected[7] == expected[2]  # unknown tier: the default price
    assert Decimal(by_role["total"]["cost_usd"]) == sum(expected.values())
    assert {r["role"]: Decimal(r["cost_usd"]) for r in by_role["rows"]} == {
        f"r{k}": sum(v for i, v in expected.items() if i % 3 == k) for k in range(3)}
    groups = {(r["service_tier"], r["processing"]): r["spans"] for r in by_tier["rows"]}
    assert groups == {("priority", ""): 2, ("flex", ""): 1, ("default", ""): 1, ("", "batch"): 2, ("", ""): 1,
                      ("turbo", ""): 1}
    assert stats["unknown_service_tiers"] == {"turbo": 1}
    assert by_tier["unknown_service_tiers"] == {"turbo": 1}
    assert {(r["service_tier"], r["processing"]): r["spans"] for r in month["rows"]} == groups
    with open(tmp_path / "bi" / "tierscope-spans-2026-11.csv", newline="") as f:
        exported = {r["span_id"]: r for r in csv.DictReader(f)}
    assert sorted((r["service_tier"], r["processing"]) for r in exported.values()) == sorted(
        (tier, processing) for _, _, tier, processing in CALLS)
    with open(tmp_path / "bi" / "tierscope-monthly-2026-11.csv", newline="") as f:
        monthly = list(csv.DictReader(f))
    assert sum(Decimal(r["cost_usd"]) for r in monthly if r["service_tier"] == "priority") == expected[0] + expected[4]


def _through_collector(tmp_path, spans) -> dict[str, dict]:
    with running_collector(tmp_path / "s") as collector:
        _post(collector, spans)
        return {r["span_id"]: r for r in ApiClient(collector.url).get("spans", since=SINCE, limit=100)["rows"]}


def test_real_sdks_through_the_fake_provider_are_priced_at_the_tier_that_served_them(
        tmp_path, instrumented, finished_spans, openai_client, anthropic_client):
    usage = dict(input=20_000, output=3_000, cache_read=5_000)
    openai_client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}],
                                          extra_headers=fake_headers(**usage, service_tier="priority"))
    stream = openai_client.chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}], stream=True, service_tier="flex",
        stream_options={"include_usage": True}, extra_headers=fake_headers(**usage, service_tier="flex"))
    list(stream)
    list(openai_client.responses.create(model="gpt-5", input="hi", stream=True,
                                        extra_headers=fake_headers(**usage, service_tier="priority")))
    anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}],
                                     extra_headers=fake_headers(**usage, service_tier="batch"))
    with anthropic_client.messages.stream(model="claude-sonnet-4-5", max_tokens=10,
                                          messages=[{"role": "user", "content": "hi"}],
                                          extra_headers=fake_headers(**usage, service_tier="batch")) as stream:
        stream.until_done()
    spans = finished_spans()
    assert [s.attributes.get(c.OPENAI_RESPONSE_SERVICE_TIER) for s in spans[:3]] == ["priority", "flex", "priority"]
    assert spans[1].attributes[c.OPENAI_REQUEST_SERVICE_TIER] == "flex"
    assert spans[3].attributes[c.ANTHROPIC_SERVICE_TIER] == spans[4].attributes[c.ANTHROPIC_SERVICE_TIER] == "batch"
    rows = _through_collector(tmp_path, spans)
    for span, (tier, processing) in zip(spans, [("priority", ""), ("flex", ""), ("priority", ""), ("", "batch"),
                                                  ("", "batch")], strict=True):
        row = rows[format(span.context.span_id, "016x")]
        expected = calc_price(Usage(input_tokens=20_000, output_tokens=3_000, cache_read_tokens=5_000),
                              model_ref=row["model"], provider_id=row["provider"], price_context=price_context(tier, processing),
                              genai_request_timestamp=datetime.fromtimestamp(span.start_time / 1e9, UTC)).total_price
        assert (row["service_tier"], row["processing"]) == (tier, processing)
        assert Decimal(row["cost_usd"]) == expected, row
    assert Decimal(rows[format(spans[0].context.span_id, "016x")]["cost_usd"]) == 2 * _default(rows, spans[0])


def _default(rows, span) -> Decimal:
    return calc_price(Usage(input_tokens=20_000, output_tokens=3_000, cache_read_tokens=5_000), model_ref="gpt-5",
                      provider_id="openai", genai_request_timestamp=datetime.fromtimestamp(span.start_time / 1e9, UTC)
                      ).total_price


def test_reprice_recosts_rows_stored_before_tiers_were_read(tmp_path):
    """Rows written before migration 0011 read '' for both columns and were priced at the default;
    they kept the tier in their attributes, and `reprice` fills the columns and re-costs them."""
    specs = [_spec(model, key, tier, processing, i) for i, (model, key, tier, processing) in enumerate(CALLS)]
    table = spans_table(normalize(encode_spans(_finished_spans(specs))), "default", Pricer(), 1)
    untiered = Pricer().price(table["model"].to_pylist(), table["provider"].to_pylist(),
                              table["start_time"].cast(pa.int64()).to_numpy(), *(
                                  table[k].to_numpy().astype(np.int64)
                                  for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")))
    old = table.set_column(table.schema.get_field_index("cost_usd"), "cost_usd", untiered.cost_usd)
    for name in ("service_tier", "processing"):
        old = old.set_column(old.schema.get_field_index(name), name, pa.array([""] * old.num_rows))
    store = Store(f"chdb:{tmp_path / 's'}")
    store.migrate()
    store.insert("llm_spans", old)
    result = reprice_store(store, Settings(prices_file=""))
    stored = dict(store.rows("SELECT name, cost_usd FROM llm_spans FINAL"))
    tiers = dict((n, (t, p)) for n, t, p in store.rows("SELECT name, service_tier, processing FROM llm_spans FINAL"))
    store.close()
    assert result["changed"] == 7  # every row with a tier or processing (the columns are filled in)
    for i, (model, _, tier, processing) in enumerate(CALLS):
        assert stored[f"chat {i}"] == _expected(model, tier, processing, START + i * 1000), CALLS[i]
        assert tiers[f"chat {i}"] == (tier, processing)


def test_failed_calls_cost_what_the_provider_reported(tmp_path, instrumented, finished_spans, openai_client,
                                                      anthropic_client):
    """An error with no usage is $0 (priced, not unpriced) and counted as failed; a stream that fails
    after message_start is billed for the usage Anthropic had reported (its input, one output token)."""
    with pytest.raises(openai.InternalServerError):
        openai_client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}],
                                              extra_headers=fake_headers(status=500))
    with pytest.raises(anthropic.APIStatusError, match="fake stream failure"):
        with anthropic_client.messages.stream(
                model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}],
                extra_headers=fake_headers(input=20_000, output=3_000, stream_error_after=1)) as stream:
            stream.until_done()
    spans = finished_spans()
    with running_collector(tmp_path / "s") as collector:
        _post(collector, spans)
        api = ApiClient(collector.url)
        rows = {r["provider"]: r for r in api.get("spans", since=SINCE, limit=100)["rows"]}
        spend = api.get("spend", by="provider", since=SINCE)
    assert rows["openai"]["status_code"] == rows["anthropic"]["status_code"] == "ERROR"
    assert (Decimal(rows["openai"]["cost_usd"]), rows["openai"]["priced"], rows["openai"]["input_tokens"]) == (0, True, 0)
    assert (rows["anthropic"]["input_tokens"], rows["anthropic"]["output_tokens"]) == (20_000, 1)
    assert Decimal(rows["anthropic"]["cost_usd"]) == calc_price(
        Usage(input_tokens=20_000, output_tokens=1), model_ref="claude-sonnet-4-5", provider_id="anthropic",
        genai_request_timestamp=datetime.fromtimestamp(spans[1].start_time / 1e9, UTC)).total_price > 0
    assert {r["provider"]: r["failed_spans"] for r in spend["rows"]} == {"openai": 1, "anthropic": 1}
    assert (spend["total"]["failed_spans"], spend["total"]["unpriced_spans"]) == (2, 0)


def test_llm_call_batch_processing_is_recorded_and_checked(instrumented, finished_spans):
    with llm_call(model="gpt-4o", provider="openai", processing="batch") as call:
        call.record_usage(input_tokens=10, output_tokens=2)
    (span,) = finished_spans()
    assert span.attributes[c.PROCESSING] == "batch"
    with pytest.raises(ValueError, match="processing"):
        with llm_call(model="gpt-4o", provider="openai", processing="overnight"):
            pass


def test_misrouted_savings_price_the_target_at_the_tier_the_calls_ran_on(tmp_path):
    """Frontier gpt-5 calls on priority and on flex, with proof that gpt-5-mini serves the role: each
    group's saving reprices its own calls on gpt-5-mini at the same service tier."""
    rows = Normalized()
    served = []
    for tier, n in (("priority", 3), ("flex", 2), ("", 2)):
        add_calls(rows, n, "fmt", "frontier", "gpt-5", "openai", 10_000, 2_000)
        served += [tier] * n
    add_calls(rows, 40, "fmt", "small", "gpt-5-mini", "openai", quality=0.95)
    served += [""] * 40
    rows.spans["service_tier"] = served
    rows.spans["start_time"] = [START + i * 10**9 for i in range(len(served))]
    store = Store(f"chdb:{tmp_path / 's'}")
    store.migrate()
    store.insert("llm_spans", spans_table(rows, "default", Pricer(), 1))
    result = misrouted_report(store, "default", {"since": SINCE}, parse_policy("version: 1\n", "p.yaml"), Pricer())
    store.close()
    found = {r["service_tier"]: r for r in result["rows"]}
    assert set(found) == {"priority", "flex", ""}

    def cost(model: str, tier: str, i: int) -> Decimal:
        return calc_price(Usage(input_tokens=10_000, output_tokens=2_000), model_ref=model, provider_id="openai",
                          price_context=price_context(tier, ""),
                          genai_request_timestamp=datetime.fromtimestamp((START + i * 10**9) / 1e9, UTC)).total_price

    first = 0
    for tier, n in (("priority", 3), ("flex", 2), ("", 2)):
        calls = range(first, first + n)
        first += n
        row = found[tier]
        assert (row["calls"], row["target_model"]) == (n, "gpt-5-mini")
        assert Decimal(row["cost_usd"]) == sum(cost("gpt-5", tier, i) for i in calls)
        assert Decimal(row["target_cost_usd"]) == sum(cost("gpt-5-mini", tier, i) for i in calls)
        assert Decimal(row["saving_usd"]) == Decimal(row["cost_usd"]) - Decimal(row["target_cost_usd"]) > 0
    assert cost("gpt-5-mini", "priority", 0) > cost("gpt-5-mini", "", 0) > cost("gpt-5-mini", "flex", 0)


def test_spend_page_shows_spend_by_service_tier_and_counts_unknown_tiers(tmp_path, monkeypatch):
    spans = _finished_spans([_spec(*call, i) for i, call in enumerate(CALLS)])
    with running_collector(tmp_path / "s") as collector:
        _post(collector, spans)
        monkeypatch.setenv("TIERSCOPE_API", collector.url)
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        at.selectbox(key="f_range").set_value("All time").run()
        assert not at.exception, [e.value for e in at.exception]
        billed = ApiClient(collector.url).get("spend", by="service_tier,processing", since=SINCE)
    table = at.dataframe[-1].value
    assert list(zip(table["Service tier"], table["Processing"], table["Calls"])) == [
        (r["service_tier"] or "(not set)", r["processing"] or "(not set)", str(r["spans"])) for r in billed["rows"]]
    assert any("Service tiers no price knows" in w.value and "`turbo` (1 call)" in w.value for w in at.warning)
