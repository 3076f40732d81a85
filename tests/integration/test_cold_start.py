"""Issue 18, from cold start a plan: every role on claude-opus-4-5 with a policy file that allows
cheaper tiers; the recommendation proposes a canary per role, says unknown instead of confident, and
decides when the canary's graded calls are in -- through the real SDKs, the fake provider and a real
collector."""

from __future__ import annotations

from decimal import Decimal

import anthropic
import httpx
import openai

from click.testing import CliRunner

from support import http_exporter, running_collector, sdk_provider
from test_dashboard_apptest import open_app
from tierscope.cli import main
from tierscope.instrumentation import instrument, llm_call, record_quality, uninstrument
from tierscope.instrumentation._tracing import use_tracer_provider

POLICY_FILE = """
version: 3
quality_floor: 0.8
models:
  mid: [{model: claude-haiku-4-5, provider: anthropic}]
  small: [{model: gpt-4o-mini, provider: openai}]
roles:
  worker: {allowed_tiers: [mid]}
  formatter: {allowed_tiers: [small]}
  critic: {allowed_tiers: [small, mid]}
"""
ROLES = ("worker", "formatter", "critic")


class Agent:
    """Calls through the official SDKs at the fake provider, each graded 1.0 except every tenth (or
    every other, for a bad model)."""

    def __init__(self, url: str) -> None:
        self.claude = anthropic.Anthropic(base_url=url, api_key="x", max_retries=0)
        self.gpt = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)

    def call(self, role: str, model: str, n: int, fail_every: int) -> None:
        provider = "openai" if model.startswith("gpt") else "anthropic"
        for i in range(n):
            with llm_call(model=model, provider=provider, role=role):
                if provider == "openai":
                    self.gpt.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                     extra_headers={"x-fake-usage": "input=3000,output=400"})
                else:
                    self.claude.messages.create(model=model, max_tokens=500, messages=[{"role": "user", "content": "hi"}],
                                                extra_headers={"x-fake-usage": "input=3000,output=400"})
                record_quality(0.0 if i % fail_every == fail_every - 1 else 1.0, "judge")


def test_all_frontier_cold_start_gets_canaries_that_decide(tmp_path, fake_provider, monkeypatch):
    (tmp_path / "routing-policy.yaml").write_text(POLICY_FILE)
    with running_collector(tmp_path / "store", policy_file=str(tmp_path / "routing-policy.yaml")) as collector:
        provider = sdk_provider(http_exporter(collector))
        instrument(tracer_provider=provider)
        agent = Agent(fake_provider.url)
        try:
            for role in ROLES:
                agent.call(role, "claude-opus-4-5", 40, fail_every=10)  # 0.9 on the incumbent
            provider.force_flush()
            cold = httpx.get(f"{collector.url}/api/v1/recommend").json()
            monkeypatch.setenv("TIERSCOPE_API", collector.url)
            page = open_app("page_policy.py")
            plans = {r["role"]: r["canary"] for r in cold["routes"]}
            # The canaries run: the worker's cheaper model holds the incumbent's 0.9, the formatter's does not.
            agent.call("worker", plans["worker"]["model"], plans["worker"]["graded_calls_needed"], fail_every=10)
            agent.call("formatter", plans["formatter"]["model"], 40, fail_every=2)
            provider.force_flush()
            decided = httpx.get(f"{collector.url}/api/v1/recommend").json()
            scheduled = [CliRunner().invoke(main, ["policy", "schedule", "--api", collector.url]) for _ in range(2)]
            served = httpx.get(f"{collector.url}/api/v1/policy").json()
        finally:
            uninstrument()
            provider.shutdown()
            use_tracer_provider(None)

    routes = {r["role"]: r for r in cold["routes"]}
    assert {r: routes[r]["model"] for r in ROLES} == dict.fromkeys(ROLES, "claude-opus-4-5")
    assert {r: (routes[r]["canary"]["model"], routes[r]["canary"]["tier"]) for r in ROLES} == {
        "worker": ("claude-haiku-4-5", "mid"), "formatter": ("gpt-4o-mini", "small"),
        "critic": ("claude-haiku-4-5", "mid")}
    assert cold["unknown_roles"] == list(sorted(ROLES))
    for role in ROLES:
        canary = routes[role]["canary"]
        assert routes[role]["confidence"] is None and routes[role]["reason"].startswith("unknown:")
        assert canary["state"] == "proposed" and canary["source"] == "policy file"
        # Floor 0.95 x 0.9; the largest share that holds it if every canary answer failed: 1 - 0.855/0.9.
        assert canary["floor"] == 0.855 and canary["share"] == 0.05 and canary["incumbent_quality"] == 0.9
        # (1.645 + 0.842)^2 x 0.9 x 0.1 / 0.045^2 graded calls, at 5% of the role's calls.
        assert canary["graded_calls_needed"] == 275 and canary["role_calls_until_decision"] == 5500
        assert Decimal(canary["monthly_saving_if_holds_usd"]) > 0
        assert canary["worst_case_quality_drop"] == 0.045
        assert Decimal(canary["worst_case_extra_cost_usd"]) == (275 * Decimal(canary["cost_per_call_usd"])).quantize(
            Decimal("0.000001"))
    # Opus 3000 in / 400 out vs haiku and gpt-4o-mini at genai-prices: the worker and critic save the
    # same per call, the formatter more (a cheaper tier).
    saving = {r: Decimal(routes[r]["canary"]["monthly_saving_if_holds_usd"]) for r in ROLES}
    assert saving["worker"] == saving["critic"] < saving["formatter"]

    shown = page.dataframe[0].value
    assert shown["confidence"].tolist() == ["unknown"] * 3  # never 100% on a role nobody has measured
    (canaries,) = [d.value for d in page.dataframe if "canary" in d.value.columns]  # the levers' tables come before
    assert canaries["canary"].tolist() == [routes[r]["canary"]["model"] for r in shown["role"]]
    assert set(canaries["state"]) == {"proposed"} and set(canaries["graded"]) == {"0 / 275"}

    after = {r["role"]: r for r in decided["routes"]}
    assert after["worker"]["model"] == "claude-haiku-4-5" and after["worker"]["confidence"] is not None
    assert after["formatter"]["model"] == "claude-opus-4-5"
    assert after["formatter"]["canary"]["state"] == "stay" and after["formatter"]["confidence"] is not None
    assert after["critic"]["canary"]["state"] == "proposed"
    assert decided["unknown_roles"] == ["critic"]
    # The schedule publishes the decided move (the first version goes live), then has nothing new.
    assert scheduled[0].exit_code == 0 and "published version 1 (live)" in scheduled[0].output
    assert "not published: the recommendation changes no route of the live version" in scheduled[1].output
    assert {r["role"]: r["model"] for r in served["routes"]}["worker"] == "claude-haiku-4-5"
