"""Bulk pricing equals genai-prices' calc_price exactly, tiers and time included; overrides win;
unknown models stay unpriced; `reprice` recomputes stored history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from genai_prices import Usage, calc_price

from tierscope.collector.pricing.prices import Pricer, load_overrides, price_context
from tierscope.collector.pricing.reprice import reprice_store
from tierscope.collector.store.clickhouse import Store
from tierscope.settings import Settings

MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", "anthropic"),
          ("gemini-2.5-pro", "google"), ("deepseek-chat", "deepseek"), ("nope-model", "openai")]


def _batch(n, seed=3):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        model, provider = rng.choice(MODELS)
        inp = rng.choice([rng.randint(0, 400_000), 200_000, 200_001, 0])
        cr = rng.randint(0, inp // 2)
        cw = rng.randint(0, (inp - cr) // 3)
        ts = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 60 * 24 * 3))
        rows.append((model, provider, ts, inp, rng.randint(0, 9000), cr, cw))
    return rows


def _price(pricer, rows):
    m, p, ts, inp, out, cr, cw = zip(*rows)
    return pricer.price(list(m), list(p), np.array([int(t.timestamp() * 1e9) for t in ts]), np.array(inp),
                        np.array(out), np.array(cr), np.array(cw))


def test_bulk_prices_equal_calc_price_exactly_including_tiers_and_time_of_day():
    rows = _batch(3000)
    priced = _price(Pricer(), rows)
    for row, cost in zip(rows, priced.cost_usd.to_pylist()):
        model, provider, ts, inp, out, cr, cw = row
        try:
            expected = calc_price(Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cr, cache_write_tokens=cw),
                                  model_ref=model, provider_id=provider, genai_request_timestamp=ts).total_price
        except LookupError:
            expected = None
        assert cost == expected, row
    assert priced.priced.sum() == sum(1 for r in rows if r[0] != "nope-model")


VARIANT_MODELS = [("gpt-5", "openai"), ("gpt-4o", "openai"), ("gpt-5-mini", "openai"), ("o3", "openai"),
                  ("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-pro", "google"), ("nope-model", "openai")]
TIERS = ["", "default", "priority", "flex", "fast", "auto", "unheard-of"]


def test_bulk_prices_equal_calc_price_with_service_tiers_and_batch():
    """Random spans on models with price variants, over the dates the variants start, each with a
    random service tier and processing: the bulk price is calc_price's with the same price_context."""
    rng = random.Random(16)
    rows, tiers, processing = [], [], []
    for _ in range(3000):
        model, provider = rng.choice(VARIANT_MODELS)
        inp = rng.choice([rng.randint(0, 400_000), 200_001])
        cr = rng.randint(0, inp // 2)
        cw = rng.randint(0, (inp - cr) // 3)
        ts = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 60 * 24 * 30))
        rows.append((model, provider, ts, inp, rng.randint(0, 9000), cr, cw))
        tiers.append(rng.choice(TIERS))
        processing.append(rng.choice(["", "batch"]))
    m, p, ts, inp, out, cr, cw = zip(*rows)
    priced = Pricer().price(list(m), list(p), np.array([int(t.timestamp() * 1e9) for t in ts]), np.array(inp),
                            np.array(out), np.array(cr), np.array(cw), tiers, processing)
    variants = 0
    for row, tier, mode, cost in zip(rows, tiers, processing, priced.cost_usd.to_pylist()):
        model, provider, ts, inp, out, cr, cw = row
        usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cr, cache_write_tokens=cw)
        try:
            expected = calc_price(usage, model_ref=model, provider_id=provider, genai_request_timestamp=ts,
                                  price_context=price_context(tier, mode)).total_price
            variants += expected != calc_price(usage, model_ref=model, provider_id=provider,
                                               genai_request_timestamp=ts).total_price
        except LookupError:
            expected = None
        assert cost == expected, (row, tier, mode)
    assert variants > 500  # the tiers really changed many prices


def test_overrides_win_and_apply_from_their_date(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text('[[prices]]\nmodel = "gpt-4o"\ninput_mtok = 1.10\noutput_mtok = 2.2\ncache_read_mtok = 0.1\n'
                      'since = "2026-11-02T00:00:00Z"\n\n[[prices]]\nmodel = "acme-llama"\nprovider = "vllm"\n'
                      'input_mtok = "0.05"\noutput_mtok = "0.05"\n')
    pricer = Pricer(load_overrides(prices))
    before = datetime(2026, 11, 1, 12, tzinfo=UTC)
    after = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    rows = [("gpt-4o", "openai", before, 1000, 100, 200, 0), ("gpt-4o", "openai", after, 1000, 100, 200, 0),
            ("acme-llama", "vllm", after, 1_000_000, 0, 0, 0), ("acme-llama", "other", after, 10, 0, 0, 0)]
    priced = _price(pricer, rows)
    genai = calc_price(Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=200), model_ref="gpt-4o",
                       provider_id="openai", genai_request_timestamp=before).total_price
    # 800 uncached x $1.10 + 200 cached x $0.10 + 100 out x $2.20, per million
    assert priced.cost_usd.to_pylist() == [genai, Decimal("0.00112"), Decimal("0.05"), None]
    assert priced.price_source[:3] == ["genai-prices", "override", "override"]
    assert priced.price_version[1].startswith("prices.toml sha256:")


def test_reprice_recomputes_history_after_an_override(tmp_path):
    from test_ingest_semantics import _finished_spans, _llm
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from tierscope.collector.ingest.decode import accept_protobuf
    from tierscope.collector.server.service import Collector

    store = Store(f"chdb:{tmp_path / 's'}")
    collector = Collector(Settings(store=f"chdb:{tmp_path / 's'}", prices_file=""), store=store)
    body = encode_spans(_finished_spans([_llm(model="acme-llama") for _ in range(3)])).SerializeToString()
    collector.start()
    collector.append(accept_protobuf(body)).result(30)
    assert collector.flush(timeout=30)
    collector.stop()
    assert store.rows("SELECT count(), countIf(cost_usd IS NULL) FROM llm_spans FINAL") == [(3, 3)]
    prices = tmp_path / "prices.toml"
    prices.write_text('[[prices]]\nmodel = "acme-llama"\ninput_mtok = 2\noutput_mtok = 4\n')
    result = reprice_store(store, Settings(prices_file=str(prices)))
    assert (result["spans"], result["changed"]) == (3, 3)
    assert store.rows("SELECT count(), sum(cost_usd), countIf(priced) FROM llm_spans FINAL") == [
        (3, Decimal("0.0072"), 3)]  # 3 x (1000 x $2 + 100 x $4) / 1M
    again = reprice_store(store, Settings(prices_file=str(prices)))
    assert again["changed"] == 0
    store.close()
