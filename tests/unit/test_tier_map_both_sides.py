"""One TIERSCOPE_TIERS string means one map to the agent (instrumentation) and to the collector."""

from __future__ import annotations

import pytest

from tierscope.collector.pricing.tiers import TierResolver
from tierscope.instrumentation._tier_map import resolve_tier, set_tier_map
from tierscope.settings import Settings


@pytest.fixture
def tiers_env(monkeypatch):
    set_tier_map(None)

    def setter(text: str) -> None:
        monkeypatch.setenv("TIERSCOPE_TIERS", text)

    yield setter
    set_tier_map(None)


@pytest.mark.parametrize("model", ["gpt-4o", "GPT-4o", "Gpt-4O"])
def test_a_mixed_case_entry_resolves_identically_in_the_agent_and_the_collector(tiers_env, model):
    tiers_env("GPT-4o=small")
    collector = TierResolver(Settings().tier_map())
    assert resolve_tier([model], "openai") == collector(model, "openai") == "small"
    # An unmapped model falls back to its price band on both sides.
    assert resolve_tier(["gpt-4o-mini"], "openai") == collector("gpt-4o-mini", "openai") == "small"
    assert resolve_tier(["claude-opus-4-5"], "anthropic") == collector("claude-opus-4-5", "anthropic") == "frontier"


def test_the_collector_reads_the_map_as_the_agent_parses_it(tiers_env):
    tiers_env(" llama3:8B = local , o3=Mid ,,")
    assert Settings().tier_map() == {"llama3:8b": "local", "o3": "mid"}
    assert TierResolver(Settings().tier_map())("LLAMA3:8b", "") == resolve_tier(["LLAMA3:8b"], None) == "local"


def test_the_collector_refuses_an_unknown_tier_with_the_agents_message(tiers_env):
    tiers_env("gpt-4o=huge")
    with pytest.raises(ValueError, match="tiers are frontier, mid, small, local"):
        Settings().tier_map()
