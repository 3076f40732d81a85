"""Issue 19, failover: a provider error (500, 429, a timeout, a refusal) fails the routed call over to
another model (same tier first, then up, never one twice, within its budget); each attempt is a
span, the failed one with its error; end to end through a real collector with the real openai SDK
against the fake provider, spend counts both attempts and the failovers are counted per role."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
import pytest

from support import http_exporter, running_collector, sdk_provider
from tierscope import clock
from tierscope.collector.read.params import scope
from tierscope.demo.fake_provider import fake_headers
from tierscope.errors import Refused
from tierscope.instrumentation import CheckFailed, Router, instrument, set_tier_map, uninstrument
from tierscope.instrumentation import conventions as c
from tierscope.instrumentation._tracing import use_tracer_provider

POLICY = {
    "version": 3,
    "routes": [{"role": "worker", "model": "acme-small", "tier": "small", "current_model": "acme-big"}],
    "models": {"small": ["acme-small", "acme-small-b"], "mid": ["acme-mid", "acme-mid-b"], "frontier": ["acme-big"]},
}
REQUEST = httpx.Request("POST", "http://fake/v1/chat/completions")


def failing(errors: dict[str, BaseException], tried: list[str]):
    """``fn`` of a routed call: raises ``errors[model]``, else answers ``ok from <model>``."""
    def answer(model: str) -> str:
        tried.append(model)
        if model in errors:
            raise errors[model]
        return f"ok from {model}"
    return answer


def failover_attributes(span) -> dict:
    keys = (c.ROUTER_FAILOVER_FROM, c.ROUTER_FAILOVER_REASON, c.ROUTER_FAILOVER_OF, c.ROUTER_ESCALATED_FROM,
            c.ROUTER_PROPENSITY, c.ERROR_TYPE)
    return {key.rsplit(".", 1)[1]: span.attributes[key] for key in keys if key in span.attributes}


def span_id(span) -> str:
    return format(span.context.span_id, "016x")


# --- the order of failover ----------------------------------------------------------------------
def test_same_tier_first_then_the_nearest_tier_up_never_a_model_twice(tierscope_tracing, finished_spans):
    router = Router(POLICY, epsilon=0.0, rng=0, max_failovers=5)
    # the role's arms come first among the known models, then the policy's models, in order
    assert router.failover_for("worker", "acme-small") == "acme-small-b"
    assert router.failover_for("worker", "acme-small", tried={"acme-small-b"}) == "acme-mid"
    assert router.failover_for("worker", "acme-mid") == "acme-mid-b"
    assert router.failover_for("worker", "acme-big") is None  # no other frontier model, nothing above
    tried: list[str] = []
    down = {m: TimeoutError(f"{m} is down") for m in ("acme-small", "acme-small-b", "acme-mid", "acme-mid-b")}
    assert router.call("worker", failing(down, tried)) == "ok from acme-big"
    assert tried == ["acme-small", "acme-small-b", "acme-mid", "acme-mid-b", "acme-big"]
    spans = finished_spans()
    first = span_id(spans[0])
    assert [failover_attributes(s) for s in spans] == [
        {"propensity": 1.0, "type": "TimeoutError"},
        {"failover_from": "acme-small", "failover_reason": "timeout", "failover_of": first, "type": "TimeoutError"},
        {"failover_from": "acme-small-b", "failover_reason": "timeout", "failover_of": first, "type": "TimeoutError"},
        {"failover_from": "acme-mid", "failover_reason": "timeout", "failover_of": first, "type": "TimeoutError"},
        {"failover_from": "acme-mid-b", "failover_reason": "timeout", "failover_of": first},
    ]
    assert [s.status.status_code.name for s in spans] == ["ERROR"] * 4 + ["UNSET"]
    assert {s.attributes[c.ROLE] for s in spans} == {"worker"}
    assert {s.attributes[c.ROUTER_POLICY_VERSION] for s in spans} == {"3"}


def test_an_exhausted_budget_raises_the_last_provider_error_with_every_attempt_noted(tierscope_tracing, finished_spans):
    router = Router(POLICY, epsilon=0.0, rng=0, max_failovers=1)
    last = openai_error(429)
    errors = {"acme-small": openai_error(500), "acme-small-b": last}
    tried: list[str] = []
    with pytest.raises(type(last)) as raised:
        router.call("worker", failing(errors, tried))
    assert raised.value is last and tried == ["acme-small", "acme-small-b"]
    assert last.__notes__ == ["tierscope router: role 'worker': 2 attempt(s) failed: "
                              "acme-small (server_error), acme-small-b (rate_limited)"]
    assert [s.attributes[c.ERROR_TYPE] for s in finished_spans()] == ["InternalServerError", "RateLimitError"]
    # No model left to try is the same: the error of the last one, noted.
    alone = Router({"routes": {"solo": "acme-small"}}, epsilon=0.0, rng=0)
    with pytest.raises(TimeoutError) as solo:
        alone.call("solo", failing({"acme-small": TimeoutError("slow")}, []))
    assert solo.value.__notes__ == ["tierscope router: role 'solo': 1 attempt(s) failed: acme-small (timeout)"]


def test_no_failover_past_the_deadline_or_with_a_zero_budget(tierscope_tracing, finished_spans):
    for router in (Router(POLICY, epsilon=0.0, rng=0, failover_deadline_s=0),
                   Router(POLICY, epsilon=0.0, rng=0, max_failovers=0)):
        tried: list[str] = []
        with pytest.raises(ConnectionResetError):
            router.call("worker", failing({"acme-small": ConnectionResetError("reset")}, tried))
        assert tried == ["acme-small"]
    roomy = Router(POLICY, epsilon=0.0, rng=0, failover_deadline_s=3600)
    assert roomy.call("worker", failing({"acme-small": ConnectionResetError("reset")}, [])) == "ok from acme-small-b"
    for bad in ({"max_failovers": -1}, {"failover_deadline_s": -1.0}, {"failover_deadline_s": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Router(POLICY, **bad)


def test_a_host_error_is_not_failed_over(tierscope_tracing, finished_spans):
    router = Router(POLICY, epsilon=0.0, rng=0)
    for error in (ValueError("bad prompt template"), openai_error(400), openai_error(401)):
        tried: list[str] = []
        with pytest.raises(type(error)) as raised:
            router.call("worker", failing({"acme-small": error}, tried))
        assert raised.value is error and tried == ["acme-small"] and not getattr(error, "__notes__", None)
    assert len(finished_spans()) == 3


class QuotaExceeded(Exception):
    """An error of the caller's own client that it wants failed over."""


def test_refusals_and_the_callers_own_reasons_fail_over(tierscope_tracing, finished_spans):
    router = Router(POLICY, epsilon=0.0, rng=0,
                    failover_on=lambda error: "quota" if isinstance(error, QuotaExceeded) else None)
    errors = {"acme-small": Refused("I can't help with that"), "acme-small-b": QuotaExceeded()}
    assert router.call("worker", failing(errors, [])) == "ok from acme-mid"
    assert [failover_attributes(s).get("failover_reason") for s in finished_spans()] == [None, "refusal", "quota"]
    assert [failover_attributes(s)["type"] for s in finished_spans()[:2]] == ["Refused", "QuotaExceeded"]


def test_escalation_and_failover_have_separate_budgets(tierscope_tracing, finished_spans):
    """small answers badly (escalate to mid), mid is down (fail over to mid-b), mid-b answers badly
    too, but the one escalation is spent: CheckFailed with mid-b's answer after three attempts."""
    router = Router(POLICY, epsilon=0.0, rng=0, max_escalations=1, max_failovers=1)
    tried: list[str] = []

    def answer(model: str) -> str:
        tried.append(model)
        if model == "acme-mid":
            raise openai_error(503)
        return "not json" if model != "acme-big" else "{\"ok\": true}"

    with pytest.raises(CheckFailed) as failed:
        router.call("worker", answer, check=json.loads)
    assert tried == ["acme-small", "acme-mid", "acme-mid-b"]
    assert (failed.value.model, failed.value.result, failed.value.attempts) == ("acme-mid-b", "not json", 3)
    first, down, retry = finished_spans()
    assert failover_attributes(down) == {"escalated_from": "acme-small", "type": "InternalServerError"}
    assert failover_attributes(retry) == {"failover_from": "acme-mid", "failover_reason": "server_error",
                                          "failover_of": span_id(first)}
    assert [s.attributes.get(c.ROUTER_CHECK) for s in (first, down, retry)] == ["failed", None, "failed"]
    # With a second escalation allowed, mid-b's bad answer goes on to the frontier model.
    generous = Router(POLICY, epsilon=0.0, rng=0, max_escalations=2, max_failovers=1)
    assert generous.call("worker", answer, check=json.loads) == "{\"ok\": true}"


def test_unknown_tiers_fail_over_to_the_roles_next_arm(tierscope_tracing, finished_spans):
    set_tier_map({})
    router = Router({"routes": {"w": "m1"}}, candidates={"w": ["m2", "m3"]}, epsilon=0.0, rng=0)
    tried: list[str] = []
    assert router.call("w", failing({"m1": TimeoutError(), "m2": TimeoutError()}, tried)) == "ok from m3"
    assert tried == ["m1", "m2", "m3"]


def test_async_call_fails_over_too(tierscope_tracing, finished_spans):
    router = Router(POLICY, epsilon=0.0, rng=0)
    tried: list[str] = []

    async def answer(model: str) -> str:
        tried.append(model)
        if model == "acme-small":
            raise asyncio.TimeoutError()  # the built-in TimeoutError, as asyncio.wait_for raises
        return f"ok from {model}"

    assert asyncio.run(router.acall("worker", answer, check=lambda text: text.startswith("ok"))) == "ok from acme-small-b"
    assert tried == ["acme-small", "acme-small-b"]
    first, retry = finished_spans()
    assert failover_attributes(retry) == {"failover_from": "acme-small", "failover_reason": "timeout",
                                          "failover_of": span_id(first)}
    with pytest.raises(ValueError):  # a host error is re-raised, not failed over, in acall too
        asyncio.run(router.acall("worker", failing_async(ValueError("bug"))))
    assert len(finished_spans()) == 3


def failing_async(error: BaseException):
    async def answer(model: str) -> str:
        raise error
    return answer


def openai_error(status: int):
    import openai

    response = httpx.Response(status, request=REQUEST, json={"error": {"message": f"fake {status}"}})
    kind = {429: openai.RateLimitError, 400: openai.BadRequestError, 401: openai.AuthenticationError}.get(
        status, openai.InternalServerError)
    return kind(f"fake {status}", response=response, body=None)


# --- end to end: the fake provider, the real openai SDK, a real collector -------------------------
PRICES = """
[[prices]]
model = "acme-small"
input_mtok = "1"
output_mtok = "2"

[[prices]]
model = "acme-small-b"
input_mtok = "3"
output_mtok = "5"
"""
LIVE_POLICY = {
    "version": 9,
    "routes": [{"role": role, "model": model, "tier": "small"}
               for role, model in (("worker", "acme-small"), ("critic", "acme-small"), ("planner", "acme-small-b"))],
    "models": {"small": ["acme-small", "acme-small-b"], "mid": ["acme-mid"]},
}
REFUSAL = "I can't help with that."


def test_calls_fail_over_on_500_429_timeout_and_refusal_through_a_real_collector(tmp_path, fake_provider,
                                                                                   monkeypatch):
    import openai

    (tmp_path / "prices.toml").write_text(PRICES)
    monkeypatch.delenv(clock.ENV, raising=False)  # live spans carry the real time: so must the window
    router = Router(LIVE_POLICY, epsilon=0.0, rng=0, provider="acme")
    good = fake_headers(input=1000, output=100)
    # How acme-small answers each call (every other model answers `good`): a 500, a 429, too late for
    # the client's 0.5 s timeout, and a billed refusal the caller recognises.
    faults = [("worker", fake_headers(status=500)), ("worker", fake_headers(status=429)),
              ("worker", fake_headers(latency_ms=3000)),
              ("critic", fake_headers(input=400, output=20, reply=REFUSAL)), ("planner", {})]
    with openai.OpenAI(base_url=f"{fake_provider.url}/v1", api_key="test", max_retries=0, timeout=0.5) as client, \
            running_collector(tmp_path / "store", prices_file=tmp_path / "prices.toml") as collector:
        provider = sdk_provider(http_exporter(collector), batch=False)
        instrument(tracer_provider=provider)
        try:
            answers = []
            for role, fault in faults:
                def ask(model: str, fault: dict = fault) -> str:
                    reply = client.chat.completions.create(
                        model=model, messages=[{"role": "user", "content": "total?"}],
                        extra_headers=fault if model == "acme-small" else good).choices[0].message.content
                    if reply == REFUSAL:
                        raise Refused(reply)
                    return reply

                answers.append(router.call(role, ask))
        finally:
            uninstrument()
            provider.shutdown()
            use_tracer_provider(None)
        spend = httpx.get(f"{collector.url}/api/v1/spend", params={"by": "role,model"}).json()
        levers = {r["role"]: r for r in httpx.get(f"{collector.url}/api/v1/levers").json()["roles"]}
        store = collector.collector.store
        decisions = store.query("offpolicy_decisions", scope({}, "default"))
        attempts = store.rows(
            "SELECT role, model, status_code, error_type, failover_from, failover_reason, "
            "attributes['tierscope.router.failover_of'] != '' AND attributes['tierscope.router.failover_of'] "
            "IN (SELECT span_id FROM llm_spans) AS points_at_a_span, input_tokens, output_tokens, cost_usd "
            "FROM llm_spans FINAL ORDER BY start_time")
        per_role = store.rows(
            "SELECT role, countIf(failover_from != '') AS failovers, count() AS attempts, "
            "countIf(failover_from = '') AS routed_calls FROM llm_spans FINAL GROUP BY role ORDER BY role")

    assert answers == ["This is a fake reply from acme-small-b."] * 5
    d = Decimal
    ok_b = d("0.0035")  # 1000 x $3/M + 100 x $5/M on acme-small-b
    assert attempts == [
        ("worker", "acme-small", "ERROR", "InternalServerError", "", "", False, 0, 0, d(0)),
        ("worker", "acme-small-b", "UNSET", "", "acme-small", "server_error", True, 1000, 100, ok_b),
        ("worker", "acme-small", "ERROR", "RateLimitError", "", "", False, 0, 0, d(0)),
        ("worker", "acme-small-b", "UNSET", "", "acme-small", "rate_limited", True, 1000, 100, ok_b),
        ("worker", "acme-small", "ERROR", "APITimeoutError", "", "", False, 0, 0, d(0)),
        ("worker", "acme-small-b", "UNSET", "", "acme-small", "timeout", True, 1000, 100, ok_b),
        # the refusal was answered, so it is billed: 400 x $1/M + 20 x $2/M
        ("critic", "acme-small", "ERROR", "Refused", "", "", False, 400, 20, d("0.00044")),
        ("critic", "acme-small-b", "UNSET", "", "acme-small", "refusal", True, 1000, 100, ok_b),
        ("planner", "acme-small-b", "UNSET", "", "", "", False, 1000, 100, ok_b),
    ]
    # The failover rate per role: failover attempts over routed calls.
    assert per_role == [("critic", 1, 2, 1), ("planner", 0, 1, 1), ("worker", 3, 6, 3)]
    # Spend counts every attempt, the failed ones included, to the last decimal.
    by = {(r["role"], r["model"]): (r["cost_usd"], r["spans"]) for r in spend["rows"]}
    assert by == {("worker", "acme-small"): ("0", 3), ("worker", "acme-small-b"): ("0.0105", 3),
                  ("critic", "acme-small"): ("0.00044", 1), ("critic", "acme-small-b"): ("0.0035", 1),
                  ("planner", "acme-small-b"): ("0.0035", 1)}
    assert d(spend["total"]["cost_usd"]) == sum(a[-1] for a in attempts) == d("0.01794")
    assert spend["total"]["spans"] == 9
    # The read API's failover rate and cost per role (GET /api/v1/levers): retries per routed call.
    assert {role: (r["failovers"]["spans"], r["failovers"]["rate"], r["failovers"]["cost_usd"])
            for role, r in levers.items()} == {"worker": (3, 1.0, "0.0105"), "critic": (1, 1.0, "0.0035"),
                                               "planner": (0, 0.0, "0")}
    # A routed decision's off-policy cost includes the failover retry it caused.
    assert {(r["role"], r["model"]): (r["decisions"], r["escalated"], round(r["cost_sum"], 9))
            for r in decisions} == {("worker", "acme-small"): (3, 3, 0.0105), ("critic", "acme-small"): (1, 1, 0.00394),
                                    ("planner", "acme-small-b"): (1, 0, 0.0035)}
