"""Tiers: explicit > configured map > price band from genai-prices; local providers; unknown -> None."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tierscope.instrumentation import (
    llm_call,
    parse_tier_map,
    resolve_tier,
    role,
    set_tier_map,
    tier_for_model,
    tier_map,
)
from tierscope.instrumentation.conventions import TIER
from tierscope.instrumentation.tiers import output_price_per_mtok, tier_for_output_price


@pytest.mark.parametrize(
    ("model", "provider", "tier"),
    [
        ("gpt-4o", None, "frontier"),  # genai-prices: $10 / MTok output
        ("gpt-4o", "openai", "frontier"),
        ("gpt-4o-2024-08-06", "openai", "frontier"),
        ("gpt-4o", "azure.ai.openai", "frontier"),  # provider unknown to genai-prices: by model alone
        ("gpt-4.1", "openai", "frontier"),  # exactly $8: the frontier floor
        ("claude-sonnet-4-6", "anthropic", "frontier"),  # tiered price: base $15
        ("claude-haiku-4-5", "anthropic", "mid"),  # $5
        ("gpt-5-mini", "openai", "mid"),  # exactly $2: the mid floor
        ("gpt-4o-mini", "openai", "small"),  # $0.60
        ("claude-3-haiku-20240307", None, "small"),  # $1.25
        ("llama3.1:8b", "ollama", "local"),
        ("gpt-4o", "vllm", "local"),  # self-hosted, whatever the weights are called
        ("totally-unknown-model-xyz", None, None),
        ("totally-unknown-model-xyz", "openai", None),
        ("", None, None),
    ],
)
def test_tier_for_model(model, provider, tier):
    assert tier_for_model(model, provider) == tier


def test_price_lookup_reads_genai_prices():
    assert output_price_per_mtok("gpt-4o", "openai") == Decimal("10")
    assert output_price_per_mtok("claude-sonnet-4-6", "anthropic") == Decimal("15")
    assert output_price_per_mtok("totally-unknown-model-xyz") is None


@pytest.mark.parametrize(
    ("price", "tier"),
    [("75", "frontier"), ("8", "frontier"), ("7.99", "mid"), ("2", "mid"), ("1.99", "small"), ("0", "small")],
)
def test_price_band_thresholds(price, tier):
    assert tier_for_output_price(Decimal(price)) == tier


def test_parse_tier_map():
    assert parse_tier_map(" GPT-4o = frontier, llama3:8b=local ,,") == {"gpt-4o": "frontier", "llama3:8b": "local"}
    with pytest.raises(ValueError, match="nope"):
        parse_tier_map("gpt-4o=nope")
    with pytest.raises(ValueError):
        parse_tier_map("gpt-4o")


def test_resolution_order(monkeypatch):
    monkeypatch.setenv("TIERSCOPE_TIERS", "gpt-4o=mid,my-router=small")
    set_tier_map({"gpt-4o": "small"})
    try:
        assert resolve_tier(["gpt-4o"], "openai", explicit="local") == "local"  # explicit first
        assert resolve_tier(["gpt-4o"], "openai") == "small"  # configured map beats env, model by model
        assert resolve_tier(["my-router"], "openai") == "small"  # env map
        assert resolve_tier(["gpt-4o-mini"], "openai") == "small"  # price band
        assert resolve_tier(["auto", "gpt-4o-2024-08-06"], "openai") == "frontier"  # band of the response model
        assert resolve_tier(["no-such-model"], "openai") is None
        assert tier_map() == {"gpt-4o": "small", "my-router": "small"}
    finally:
        set_tier_map(None)


def test_bad_env_entries_are_skipped(monkeypatch, caplog):
    monkeypatch.setenv("TIERSCOPE_TIERS", "a-model=mid,b-model=enormous")
    assert tier_map() == {"a-model": "mid"}
    assert "TIERSCOPE_TIERS" in caplog.text


def test_set_tier_map_refuses_unknown_tiers():
    with pytest.raises(ValueError):
        set_tier_map({"gpt-4o": "premium"})


def test_tier_on_llm_spans_explicit_then_role_then_map_then_band(tierscope_tracing, finished_spans, monkeypatch):
    monkeypatch.setenv("TIERSCOPE_TIERS", "house-model=mid")
    with llm_call(model="gpt-4o", provider="openai", tier="small"):
        pass
    with role("formatter", tier="mid"):
        with llm_call(model="gpt-4o", provider="openai"):
            pass
        with llm_call(model="gpt-4o", provider="openai", tier="frontier"):
            pass
    with llm_call(model="house-model", provider="openai"):
        pass
    with llm_call(model="gpt-4o", provider="openai"):
        pass
    with llm_call(model="no-such-model-xyz", provider="openai"):
        pass
    with llm_call(model="auto", provider="openai") as call:
        call.set_response_model("gpt-4o-mini-2024-07-18")

    tiers = [span.attributes.get(TIER) for span in finished_spans()]
    assert tiers == ["small", "mid", "frontier", "mid", "frontier", None, "small"]
