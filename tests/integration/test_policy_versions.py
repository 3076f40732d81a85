"""Published policy versions: a canary promoted by its graded calls, a live version rolled back to its
parent, clean errors, and a router that keeps its last good policy while the collector is away."""

from __future__ import annotations

import logging
import random

import httpx
import pytest

from support import http_exporter, running_collector, sdk_provider
from test_policy_loop import PRICES
from tierscope.instrumentation import Router, current_llm_call, instrument, record_quality
from tierscope.instrumentation._policy_url import PolicyFetchError
from tierscope.instrumentation._tracing import use_tracer_provider

V1 = {"routes": {"worker": "acme-big"}}
V2 = {"routes": {"worker": "acme-small"}}


def publish(url: str, document: dict, share: float = 0.5) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/policy", json={"document": document, "canary_share": share, "reason": "test"})


def test_a_canary_whose_graded_calls_hold_is_promoted_and_a_live_version_rolls_back_to_its_parent(tmp_path):
    (tmp_path / "prices.toml").write_text(PRICES)
    with running_collector(tmp_path / "store", prices_file=tmp_path / "prices.toml", alert_interval_s=0) as collector:
        url = collector.url
        assert httpx.get(f"{url}/api/v1/policy").status_code == 404  # nothing published yet
        assert publish(url, V1).json()["published"]["status"] == "live"
        assert publish(url, V2).json()["published"]["status"] == "canary"
        busy = publish(url, V1)
        provider = sdk_provider(http_exporter(collector), batch=False)
        instrument(tracer_provider=provider, sdks=())
        router = Router(policy_url=f"{url}/api/v1/policy", epsilon=0.0, rng=random.Random(1), provider="acme",
                        reload_interval_s=3600.0)  # no reload during the calls: the canary split stays
        try:
            def answer(model: str) -> str:
                current_llm_call().record_usage(input_tokens=1000, output_tokens=0)
                record_quality(1.0, "judge")  # both models answer well
                return "ok"

            picks = [router.decide("worker").model for _ in range(200)]
            for _ in range(140):
                router.call("worker", answer)
        finally:
            provider.shutdown()
            use_tracer_provider(None)
        status = httpx.get(f"{url}/api/v1/policy/versions").json()  # reconciles: the evidence decides
        promoted = httpx.get(f"{url}/api/v1/policy").json()
        rolled = httpx.post(f"{url}/api/v1/policy/rollback", json={"reason": "by hand"}).json()
        restored = httpx.get(f"{url}/api/v1/policy").json()
        nothing = httpx.post(f"{url}/api/v1/policy/promote", json={})
        bad = publish(url, {"routes": [{"role": "worker"}]})
        wrong = httpx.get(f"{url}/api/v1/policy/promote")

    assert busy.status_code == 400 and "still a canary" in busy.json()["error"]
    assert 70 <= picks.count("acme-small") <= 130  # half of the worker's calls on the canary
    assert status["actions"][0]["action"] == "promoted" and status["live"] == 2 and status["canary"] is None
    assert status["evidence"] == {}  # decided: no canary left to show
    judged = status["actions"][0]["evidence"]["worker"]
    assert (judged["state"], judged["floor"]) == ("promote", 0.95) and 50 <= judged["graded_calls_so_far"] <= 90
    # IPS over the router-logged split: every canary call scored 1.0 at propensity 0.5.
    assert judged["offpolicy_quality"]["estimate"] == round(judged["graded_calls_so_far"] / 0.5 / 140, 6)
    assert judged["offpolicy_agrees"]
    assert [(v["version"], v["status"]) for v in status["versions"]] == [(2, "live"), (1, "superseded")]
    assert promoted["version"] == "2" and promoted["routes"] == [{"role": "worker", "model": "acme-small"}]
    assert rolled == {"rolled_back": 2, "live": 3}
    assert restored["version"] == "3" and restored["routes"] == [{"role": "worker", "model": "acme-big"}]
    assert nothing.status_code == 400 and "no canary" in nothing.json()["error"]
    assert bad.status_code == 400 and "model" in bad.json()["error"]
    assert wrong.status_code == 404


def test_the_router_keeps_its_last_good_policy_while_the_collector_is_away(tmp_path, caplog):
    with running_collector(tmp_path / "store", alert_interval_s=0) as collector:
        url = f"{collector.url}/api/v1/policy"
        assert publish(collector.url, V1).status_code == 200
        router = Router(policy_url=url, epsilon=0.0, reload_interval_s=0.0)
        assert router.pick("worker") == "acme-big" and router.policy_version == "1"
    with caplog.at_level(logging.WARNING, logger="tierscope"):
        assert router.pick("worker") == "acme-big"  # the collector is gone: version 1 stays in force
    assert router.policy_version == "1"
    assert any("keeping routing policy 1" in r.getMessage() for r in caplog.records)
    with pytest.raises(PolicyFetchError):
        Router(policy_url=url)  # never reached: a configuration error at start
    with pytest.raises(ValueError, match="not both"):
        Router(V1, policy_url=url)
