"""The Router (issue 4): picks with exact propensities, reloads its policy file, explores within its
budget and escalates a failed check one tier up, on real OTel SDK spans; end to end, Router-logged
spans through a real collector give the off-policy estimate a hand computation gives."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from support import http_exporter, running_collector, sdk_provider
from test_dashboard_apptest import NOW, metrics, open_app
from tierscope import clock
from tierscope.cli import main
from tierscope.collector.offpolicy.estimate import LoggedDecision, estimate_policy, summarize
from tierscope.collector.offpolicy.api import NO_ROUTER_SPANS
from tierscope.dashboard.transforms import money_text
from tierscope.demo.fake_provider import fake_headers
from tierscope.instrumentation import (
    CheckFailed,
    Router,
    current_llm_call,
    instrument,
    llm_call,
    record_quality,
    role,
    set_tier_map,
    uninstrument,
)
from tierscope.instrumentation import conventions as c
from tierscope.instrumentation._tracing import use_tracer_provider

POLICY = {
    "schema": "tierscope.policy/v1",
    "version": 7,
    "routes": [
        {"role": "worker", "model": "acme-small", "tier": "small", "current_model": "acme-big"},
        {"role": "critic", "model": "acme-big", "tier": "frontier", "current_model": "acme-big", "pinned": True},
    ],
    "models": {"small": ["acme-small"], "mid": ["acme-mid"], "frontier": [{"model": "acme-big", "provider": "acme"}]},
}
TIERS = {"acme-small": "small", "acme-mid": "mid", "acme-big": "frontier"}


class Script:
    """An injected source of uniforms: exactly the draws the test wants, in order."""

    def __init__(self, draws: list[float]) -> None:
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0)


@pytest.fixture
def tiers():
    set_tier_map(TIERS)
    yield
    set_tier_map(None)


def router_attributes(span) -> dict:
    keys = (c.ROUTER_POLICY_VERSION, c.ROUTER_PROPENSITY, c.ROUTER_EXPLORED, c.ROUTER_ESCALATED_FROM,
            c.ROUTER_ESCALATION_OF, c.ROUTER_CHECK)
    return {key.rsplit(".", 1)[1]: span.attributes[key] for key in keys if key in span.attributes}


# --- pick and propensity ------------------------------------------------------------------------------
def test_pick_records_the_choice_and_its_exact_propensity_on_the_call_span(tierscope_tracing, finished_spans, tiers):
    # epsilon 0.3 over 3 arms: the policy's model 1 - 0.3 + 0.1 = 0.8, each other arm 0.1.
    # A draw below 0.3 explores: [0, 0.1) -> arm 0, [0.1, 0.2) -> arm 1, [0.2, 0.3) -> arm 2.
    router = Router(POLICY, epsilon=0.3, candidates={"worker": ["acme-mid"]},
                    rng=Script([0.95, 0.05, 0.15, 0.25, 0.3]))
    assert router.arms("worker") == ("acme-small", "acme-big", "acme-mid")
    picked = []
    for _ in range(5):
        model = router.pick("worker")
        picked.append(model)
        with llm_call(model=model, provider="acme"):
            pass
    assert picked == ["acme-small", "acme-small", "acme-big", "acme-mid", "acme-small"]
    spans = finished_spans()
    assert [s.attributes[c.REQUEST_MODEL] for s in spans] == picked
    assert [router_attributes(s) for s in spans] == [
        {"policy_version": "7", "propensity": pytest.approx(0.8), "explored": False},
        {"policy_version": "7", "propensity": pytest.approx(0.8), "explored": False},
        {"policy_version": "7", "propensity": pytest.approx(0.1), "explored": True},
        {"policy_version": "7", "propensity": pytest.approx(0.1), "explored": True},
        {"policy_version": "7", "propensity": pytest.approx(0.8), "explored": False},
    ]
    # pick() without a role() scope still labels the span with the role it routed.
    assert {s.attributes[c.ROLE] for s in spans} == {"worker"}
    assert {s.attributes[c.TIER] for s in spans} == {"small", "frontier", "mid"}
    assert router.propensity("worker", "acme-mid") == pytest.approx(0.1)
    assert router.propensity("worker", "gpt-4o") == 0.0


def test_pick_inside_llm_call_stamps_that_span_and_a_stale_pick_is_not_claimed(tierscope_tracing, finished_spans):
    router = Router(POLICY, epsilon=0.0, rng=0)
    with llm_call(model="acme-small", provider="acme", role="worker"):
        assert router.pick("worker") == "acme-small"
    router.pick("worker")  # never used: the next call is another role's
    with role("planner"), llm_call(model="acme-small", provider="acme"):
        pass
    first, second = finished_spans()
    assert router_attributes(first) == {"policy_version": "7", "propensity": 1.0, "explored": False}
    assert router_attributes(second) == {}


def test_exploration_budget_matches_the_propensities_and_is_deterministic_per_seed():
    draws = 20_000
    for rng in (random.Random(3), np.random.default_rng(3)):
        router = Router(POLICY, epsilon=0.1, rng=rng)
        counts = Counter(router.pick("worker") for _ in range(draws))
        for model, n in counts.items():
            p = router.propensity("worker", model)
            assert abs(n / draws - p) < 4 * math.sqrt(p * (1 - p) / draws), (model, n)

    def picks(seed: int) -> list[str]:
        router = Router(POLICY, epsilon=0.5, rng=seed)
        return [router.pick("worker") for _ in range(50)]

    assert picks(11) == picks(11) and picks(11) != picks(12)
    # A pinned role is never explored, whatever the budget.
    pinned = Router(POLICY, epsilon=1.0, rng=1)
    assert {pinned.pick("critic") for _ in range(200)} == {"acme-big"}
    assert pinned.decide("critic").propensity == 1.0


def test_unknown_role_goes_to_the_default_or_is_a_clear_error():
    assert Router(POLICY, default="acme-mid", rng=0).decide("planner").model == "acme-mid"
    with pytest.raises(KeyError, match="no route for role 'planner'"):
        Router(POLICY, rng=0).pick("planner")
    with pytest.raises(ValueError, match="epsilon"):
        Router(POLICY, epsilon=1.5)
    with pytest.raises(ValueError, match="routes"):
        Router({"version": 1})


# --- the policy file ------------------------------------------------------------------------------
def _bump(path) -> None:
    """A new modification time even on a coarse-clock filesystem."""
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_reloads_the_policy_file_when_it_changes_and_keeps_the_last_good_one(tmp_path, caplog):
    path = tmp_path / "routing-policy.recommended.json"
    path.write_text(json.dumps(POLICY))
    router = Router(path, epsilon=0.0, rng=0, reload_interval_s=0)
    assert (router.pick("worker"), router.policy_version) == ("acme-small", "7")

    yaml_text = "schema: tierscope.policy/v1\nversion: 8\nroutes:\n- {role: worker, model: acme-mid, tier: mid}\n"
    path.write_text(yaml_text)  # the same file, now YAML (as `tierscope recommend --format yaml` writes it)
    _bump(path)
    assert (router.pick("worker"), router.policy_version) == ("acme-mid", "8")

    path.write_text("routes: [unterminated")
    _bump(path)
    with caplog.at_level(logging.WARNING, logger="tierscope.instrumentation"):
        assert router.pick("worker") == "acme-mid"  # the bad file never breaks routing
    assert "keeping routing policy 8" in caplog.text

    # Checked at most every reload_interval_s: a change inside the interval waits for the next check.
    lazy_path = tmp_path / "lazy.json"
    lazy_path.write_text(json.dumps(POLICY))
    lazy = Router(lazy_path, epsilon=0.0, rng=0, reload_interval_s=3600)
    lazy_path.write_text(yaml_text)
    _bump(lazy_path)
    assert lazy.pick("worker") == "acme-small"


def test_policy_written_by_tierscope_recommend_loads(tmp_path):
    from tierscope.collector.recommender.policy import Policy, RoleRoute

    policy = Policy(version=3, quality_target=0.95, target_probability=0.9, expected_quality_ratio=0.97, routes=(
        RoleRoute("worker", "acme-small", "small", "acme-big", Decimal("0.001"), Decimal("0.01"), 0.9, 3000,
                  Decimal("27"), 0.8, 120),
    ))
    (tmp_path / "p.yaml").write_text(policy.to_yaml())
    (tmp_path / "p.json").write_text(policy.to_json())
    for name in ("p.yaml", "p.json"):
        router = Router(tmp_path / name, epsilon=0.2, rng=0)
        assert router.arms("worker") == ("acme-small", "acme-big") and router.policy_version == "3"


# --- escalation -----------------------------------------------------------------------------------
def test_a_failed_check_is_retried_one_tier_up_and_both_calls_are_spans(tierscope_tracing, finished_spans, tiers):
    router = Router(POLICY, epsilon=0.0, rng=0)
    answers = {"acme-small": "not json", "acme-mid": '{"total": 3}', "acme-big": '{"total": 3}'}
    seen = []

    def answer(model: str) -> str:
        seen.append(model)
        current_llm_call().record_usage(input_tokens=100, output_tokens=10)
        return answers[model]

    result = router.call("worker", answer, check=json.loads)  # json.loads raising = the check failed
    assert result == '{"total": 3}' and seen == ["acme-small", "acme-mid"]  # one tier up: mid, not frontier
    first, retry = finished_spans()
    assert router_attributes(first) == {"policy_version": "7", "propensity": 1.0, "explored": False, "check": "failed"}
    assert router_attributes(retry) == {"policy_version": "7", "escalated_from": "acme-small",
                                        "escalation_of": format(first.context.span_id, "016x"), "check": "passed"}
    assert [s.attributes[c.USAGE_INPUT_TOKENS] for s in (first, retry)] == [100, 100]  # both billed
    assert [s.attributes[c.ROLE] for s in (first, retry)] == ["worker", "worker"]


def test_no_tier_left_raises_check_failed_with_the_last_answer(tierscope_tracing, finished_spans, tiers):
    router = Router(POLICY, epsilon=0.0, rng=0, max_escalations=3)
    with pytest.raises(CheckFailed) as failed:
        router.call("worker", lambda model: f"bad from {model}", check=lambda text: text.startswith("{"))
    assert (failed.value.model, failed.value.result, failed.value.attempts) == ("acme-big", "bad from acme-big", 3)
    assert [s.attributes[c.REQUEST_MODEL] for s in finished_spans()] == ["acme-small", "acme-mid", "acme-big"]
    assert [s.attributes.get(c.ROUTER_ESCALATED_FROM) for s in finished_spans()] == [None, "acme-small", "acme-mid"]


def test_an_error_from_the_call_itself_is_recorded_and_reraised_unchanged(tierscope_tracing, finished_spans):
    router = Router(POLICY, epsilon=0.0, rng=0)
    boom = KeyError("choices")  # a bug in the host's code, not the provider's: never failed over

    def call(model: str) -> str:
        raise boom

    with pytest.raises(KeyError) as raised:
        router.call("worker", call, check=bool)
    assert raised.value is boom and not getattr(boom, "__notes__", None)
    (span,) = finished_spans()
    assert span.attributes[c.ERROR_TYPE] == "KeyError" and span.attributes[c.ROUTER_PROPENSITY] == 1.0


def test_async_call_escalates_too(tierscope_tracing, finished_spans, tiers):
    import asyncio

    router = Router(POLICY, epsilon=0.0, rng=0)

    async def answer(model: str) -> dict:
        return {"ok": model != "acme-small"}

    async def check(result: dict) -> bool:
        return result["ok"]

    assert asyncio.run(router.acall("worker", answer, check=check)) == {"ok": True}
    assert [s.attributes.get(c.ROUTER_CHECK) for s in finished_spans()] == ["failed", "passed"]


def test_the_router_uses_opentelemetry_api_only():
    code = ("import sys; from tierscope.instrumentation import Router, llm_call;"
            "r = Router({'routes': {'w': 'm'}}, rng=1); m = r.pick('w');"
            "exec('with llm_call(model=m, provider=\"x\"): pass');"
            "print(sorted(n for n in sys.modules if n.startswith('opentelemetry.sdk')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_openai_sdk_call_routed_by_pick_carries_the_decision(instrumented, finished_spans, openai_client):
    router = Router(POLICY, epsilon=0.0, rng=0)
    with role("worker"):
        openai_client.chat.completions.create(model=router.pick("worker"), messages=[{"role": "user", "content": "x"}],
                                              extra_headers=fake_headers(input=50, output=5))
    (span,) = finished_spans()
    assert span.attributes[c.REQUEST_MODEL] == "acme-small"
    assert router_attributes(span) == {"policy_version": "7", "propensity": 1.0, "explored": False}


# --- off-policy estimate, pure --------------------------------------------------------------------
def test_ips_and_doubly_robust_match_a_hand_computation():
    logged = [LoggedDecision("w", "small", 0.9, Decimal("0.001"), 1.0)] * 6 + [
        LoggedDecision("w", "small", 0.9, Decimal("0.011"), 0.0),
        LoggedDecision("w", "big", 0.1, Decimal("0.01"), 1.0),
        LoggedDecision("w", "big", 0.1, Decimal("0.01"), None),
        LoggedDecision("w", "small", 0.5, Decimal("0.002"), 1.0),
    ]
    estimate = estimate_policy(summarize(logged), {"w": "small"})
    terms = [0.001 / 0.9] * 6 + [0.011 / 0.9, 0.0, 0.0, 0.002 / 0.5]
    assert (estimate.n, estimate.matched) == (10, 8)
    assert estimate.cost_ips.estimate == pytest.approx(sum(terms) / 10, abs=1e-15)
    sd = math.sqrt(sum((t - sum(terms) / 10) ** 2 for t in terms) / 9)
    assert estimate.cost_ips.high == pytest.approx(sum(terms) / 10 + 1.959963984540054 * sd / math.sqrt(10))
    quality_terms = [1 / 0.9] * 6 + [0.0, 0.0, 1 / 0.5]  # the ungraded big call is not in the quality sample
    assert estimate.quality_ips.estimate == pytest.approx(sum(quality_terms) / 9)
    q = (6 + 0 + 1) / 8  # doubly robust baseline: the small model's mean quality
    dr = [q + (1 - q) / 0.9] * 6 + [q + (0 - q) / 0.9, q, q + (1 - q) / 0.5]
    assert estimate.quality_dr.estimate == pytest.approx(sum(dr) / 9)
    assert estimate.logged_quality == pytest.approx(8 / 9)
    none = estimate_policy(summarize(logged), {"w": "mid"})
    assert (none.n, none.cost_ips, none.unsupported_roles) == (0, None, ("w",))


# --- end to end through a real collector ----------------------------------------------------------
PRICES = """
[[prices]]
model = "acme-small"
input_mtok = "1"
output_mtok = "0"

[[prices]]
model = "acme-big"
input_mtok = "10"
output_mtok = "0"
"""


def test_router_logged_spans_through_a_real_collector_give_the_hand_computed_ips(tmp_path, tiers, monkeypatch):
    (tmp_path / "prices.toml").write_text(PRICES)
    policy = {**POLICY, "models": {"small": ["acme-small"], "frontier": ["acme-big"]}}  # small escalates to big
    # 40 routed calls with epsilon 0.2 over (acme-small, acme-big): every 5th draw explores acme-big
    # (propensity 0.1), the rest take the policy's acme-small (0.9). Four small answers fail the
    # check and are retried on acme-big: double-billed, the decision's cost is 0.001 + 0.01.
    draws = [0.15 if i % 5 == 0 else 0.5 for i in range(40)]
    failing = {1, 7, 13, 19}
    monkeypatch.delenv(clock.ENV, raising=False)  # live spans carry the real time: so must the window
    router = Router(policy, epsilon=0.2, rng=Script(draws), provider="acme")
    logged: list[LoggedDecision] = []
    with running_collector(tmp_path / "store", prices_file=tmp_path / "prices.toml") as collector:
        provider = sdk_provider(http_exporter(collector), batch=False)
        instrument(tracer_provider=provider, sdks=())
        try:
            for i, draw in enumerate(draws):
                def answer(model: str, bad: bool = i in failing) -> str:
                    current_llm_call().record_usage(input_tokens=1000, output_tokens=0)
                    good = model == "acme-big" or not bad
                    record_quality(1.0 if good else 0.0, "judge")
                    return '{"ok": true}' if good else "oops"

                router.call("worker", answer, check=json.loads)
                explored = draw < 0.2
                cost = Decimal("0.01") if explored else Decimal("0.011") if i in failing else Decimal("0.001")
                logged.append(LoggedDecision("worker", "acme-big" if explored else "acme-small",
                                             0.1 if explored else 0.9, cost, 1.0))
        finally:
            provider.shutdown()
            use_tracer_provider(None)
        body = httpx.get(f"{collector.url}/api/v1/recommend", params={"quality_target": 0.8}).json()
        cli = CliRunner().invoke(main, ["recommend", "--quality-target", "0.8", "--api", collector.url])
        spend = httpx.get(f"{collector.url}/api/v1/spend", params={"by": "model"}).json()
        # The dashboard's Policy page shows the estimate beside its recommendation (target 0.95 there).
        monkeypatch.setenv("TIERSCOPE_API", collector.url)
        page = open_app("page_policy.py")
        page_body = httpx.get(f"{collector.url}/api/v1/recommend", params={"quality_target": 0.95, "window_days": 30}).json()

    assert {r["role"]: r["model"] for r in body["routes"]} == {"worker": "acme-small"}
    # Spend shows the double-billed retries: 32 x 0.001 on small; (8 explored + 4 retries) x 0.01 on big.
    assert {row["model"]: row["cost_usd"] for row in spend["rows"]} == {"acme-small": "0.032", "acme-big": "0.12"}
    off = body["offpolicy"]
    # By hand: IPS cost = (28 x 0.001 + 4 x 0.011) / 0.9 / 40 = 0.002; quality = 32 x 1.0 / 0.9 / 40.
    terms = [float(d.cost_usd) / d.propensity if d.model == "acme-small" else 0.0 for d in logged]
    mean = sum(terms) / 40
    half = 1.959963984540054 * math.sqrt(sum((t - mean) ** 2 for t in terms) / 39) / math.sqrt(40)
    nano = lambda x: Decimal(repr(x)).quantize(Decimal("0.000000001"), ROUND_HALF_EVEN)  # noqa: E731
    assert (off["status"], off["n"], off["matched"]) == ("ok", 40, 32)
    assert off["cost_per_call_usd"]["estimate"] == "0.002"
    assert abs(Decimal(off["cost_per_call_usd"]["low"]) - nano(mean - half)) <= Decimal("0.000000001")
    assert abs(Decimal(off["cost_per_call_usd"]["high"]) - nano(mean + half)) <= Decimal("0.000000001")
    assert off["quality"]["estimate"] == round(32 / 0.9 / 40, 6) and off["quality"]["n"] == 40
    assert off["logged"] == {"cost_per_call_usd": "0.0038", "quality": 1.0}  # (0.028 + 0.044 + 0.08) / 40
    assert off["policy_versions"] == ["7"]
    assert cli.exit_code == 0, cli.output
    assert "# off-policy estimate of this policy from 40 router-logged calls" in cli.output
    assert "cost per call $0.002 [" in cli.output
    shown = metrics(page)
    assert shown["Router-logged calls"] == "40"
    assert shown["Estimated cost per call"] == money_text(page_body["offpolicy"]["cost_per_call_usd"]["estimate"])
    assert table(page, "cost/call")["role"].tolist() == ["worker"]


def _router_logged(model: str, n: int, start: datetime, first: int) -> bytes:
    """OTLP protobuf of ``n`` worker calls on ``model`` with a router propensity of 0.5."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i in range(n):
        t = int((start + timedelta(seconds=i)).timestamp() * 1e9)
        span = spans.add(name="chat", trace_id=(first + i).to_bytes(16, "big"), span_id=b"\x03" * 8,
                         start_time_unix_nano=t, end_time_unix_nano=t + 1000)
        for key, value in ((c.OPERATION_NAME, AnyValue(string_value="chat")),
                           (c.REQUEST_MODEL, AnyValue(string_value=model)),
                           (c.PROVIDER_NAME, AnyValue(string_value="openai")),
                           (c.ROLE, AnyValue(string_value="worker")),
                           (c.USAGE_INPUT_TOKENS, AnyValue(int_value=2000)),
                           (c.ROUTER_POLICY_VERSION, AnyValue(string_value="1")),
                           (c.ROUTER_PROPENSITY, AnyValue(double_value=0.5))):
            span.attributes.append(KeyValue(key=key, value=value))
    return request.SerializeToString()


def table(page, column: str):
    """The page's one dataframe with a column named `column` (it has several: routes, levers, ...)."""
    (found,) = [d.value for d in page.dataframe if column in d.value.columns]
    return found


def test_no_router_spans_or_no_support_says_so(tmp_path, monkeypatch):
    from test_recommend import _batch  # plain spans: no propensity

    post = lambda url, body: httpx.post(f"{url}/v1/traces", content=body,  # noqa: E731
                                        headers={"content-type": "application/x-protobuf"}).status_code
    monkeypatch.setenv(clock.ENV, NOW.isoformat())  # the spans below are an hour before it
    with running_collector(tmp_path / "store") as collector:
        start = NOW - timedelta(hours=1)
        assert post(collector.url, _batch("gpt-4o", 1.0, 40, start, 1)) == 200
        plain = httpx.get(f"{collector.url}/api/v1/recommend").json()
        cli = CliRunner().invoke(main, ["recommend", "--api", collector.url])
        # Ten router-logged calls on gpt-4o-mini: too few to move the worker off gpt-4o, so the
        # recommended model was never router-logged and the estimate has no support.
        assert post(collector.url, _router_logged("gpt-4o-mini", 10, start, 1_000)) == 200
        unsupported = httpx.get(f"{collector.url}/api/v1/recommend").json()
        monkeypatch.setenv("TIERSCOPE_API", collector.url)
        page = open_app("page_policy.py")
    assert plain["offpolicy"] == {"status": "no_router_spans", "message": NO_ROUTER_SPANS, "n": 0}
    assert cli.exit_code == 0 and f"# off-policy estimate: {NO_ROUTER_SPANS}" in cli.output
    assert {r["role"]: r["model"] for r in unsupported["routes"]} == {"worker": "gpt-4o"}
    assert (unsupported["offpolicy"]["status"], unsupported["offpolicy"]["unsupported_roles"]) == ("no_support", ["worker"])
    # gpt-4o-mini is a cheaper model seen for the worker without a graded call: a canary, and "unknown".
    assert unsupported["unknown_roles"] == ["worker"] and unsupported["routes"][0]["canary"]["model"] == "gpt-4o-mini"
    assert [i.value for i in page.info] == [
        "Unknown yet whether a cheaper model would do for: `worker`. A canary per role finds out (below).",
        "No router-logged calls on the recommended models yet. Not covered: `worker`",
        'No version published yet: `tierscope policy publish routing-policy.recommended.yaml`, then routers follow '
        'it with `Router(policy_url=".../api/v1/policy")`.']
    assert table(page, "canary")["canary"].tolist() == ["gpt-4o-mini"]
