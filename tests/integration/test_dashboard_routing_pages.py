"""Issue 4's dashboard pages under AppTest against a real collector: the Alerts page arms a rule
through its form and shows its state; the Policy page shows the API's recommendation, and each
model's p50/p95 latency against its role's SLO (issue 19)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx

import numpy as np
import pytest

from support import free_port
from tierscope.client import ApiClient
from tierscope.collector.server.background import BackgroundCollector
from sample_data import SAMPLE_POLICY, sample_traces, send
from tierscope.dashboard.transforms import money_text
from tierscope.settings import Settings
from test_dashboard_apptest import NOW, metrics, open_app
from tierscope import clock
from test_recommend import _batch


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[BackgroundCollector]:
    home = tmp_path_factory.mktemp("routing")
    # critic's pin breaks its SLO (its sample calls take 200 ms and more); drafter's SLO rules out gpt-4o-mini.
    policy = SAMPLE_POLICY.replace("critic: {pinned_model: gpt-4o}", "critic: {pinned_model: gpt-4o, latency_p95_ms: 100}")
    (home / "routing-policy.yaml").write_text(policy + "  drafter: {latency_p95_ms: 2500}\n")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERSCOPE_POLICY_FILE", str(home / "routing-policy.yaml"))
        env.setenv(clock.ENV, NOW.isoformat())  # the sample data's last day: the collector and the pages read it
        settings = Settings(store=f"chdb:{home / 'store'}", http_port=free_port(), grpc_port=0, prices_file="",
                            alert_interval_s=0)
        with BackgroundCollector(settings) as running:
            send(running.url, sample_traces(np.random.default_rng(7), 80))
            # Calls the day before too, so the 30-day recommendation window holds both models.
            for model, first in (("gpt-4o", 1), ("gpt-4o-mini", 10_000)):
                httpx.post(f"{running.url}/v1/traces", content=_batch(model, 1.0, 100, NOW - timedelta(days=1), first),
                           headers={"content-type": "application/x-protobuf"})
            for model, n, first, durations in (("gpt-4o", 50, 20_000, [800] * 50),
                                               ("gpt-4o-mini", 40, 30_000, [1000 + 50 * i for i in range(40)])):
                httpx.post(f"{running.url}/v1/traces", headers={"content-type": "application/x-protobuf"},
                           content=_batch(model, 1.0, n, NOW - timedelta(days=2), first, role="drafter",
                                          durations_ms=durations))
            env.setenv("TIERSCOPE_API", running.url)
            yield running


def test_alerts_page_arms_a_rule_and_shows_both_sides(collector):
    at = open_app("page_alerts.py")
    assert at.title[0].value == "Alerts" and "No alert rules yet" in at.info[0].value
    at.text_input[0].set_value("worker")  # role
    at.button[-1].click().run()  # the form's Arm button
    assert not at.exception, [e.value for e in at.exception]
    rules = ApiClient(collector.url).get("alerts")["rules"]
    assert [(r["role"], r["cost_ceiling_usd"], r["quality_floor"]) for r in rules] == [("worker", "10", 0.8)]
    at = open_app("page_alerts.py")
    assert metrics(at)["Rules"] == "1"
    table = at.dataframe[0].value
    assert list(table["scope"]) == ["role=worker"] and list(table["quality"]) == ["ok"]


def test_policy_page_shows_the_apis_recommendation(collector):
    at = open_app("page_policy.py")
    assert not at.exception, [e.value for e in at.exception]
    body = ApiClient(collector.url).get("recommend", quality_target=0.95, window_days=30)
    assert body["routes"], body
    shown = metrics(at)
    assert shown["Expected monthly saving"] == money_text(body["expected_monthly_saving_usd"])
    table = at.dataframe[0].value
    assert list(table["recommended"]) == [r["model"] for r in body["routes"]]


def test_policy_page_shows_p50_p95_per_model_and_marks_a_route_over_its_slo(collector):
    at = open_app("page_policy.py")
    assert not at.exception, [e.value for e in at.exception]
    body = ApiClient(collector.url).get("recommend", quality_target=0.95, window_days=30)
    table = next(d.value for d in at.dataframe if "p95 (ms)" in d.value.columns)
    shown = {(r["role"], r["model"]): r for r in table.to_dict("records")}
    assert set(shown) == {(a["role"], a["model"]) for a in body["arm_latency"]}
    for arm in body["arm_latency"]:
        row = shown[arm["role"], arm["model"]]
        assert (row["p50 (ms)"], row["p95 (ms)"]) == (f"{arm['p50_ms']:,}", f"{arm['p95_ms']:,}")
    # drafter's own calls: nearest-rank p50 (20th of 40) and p95 (38th) of 1,000 + 50 i ms.
    mini, big = shown["drafter", "gpt-4o-mini"], shown["drafter", "gpt-4o"]
    assert (mini["p50 (ms)"], mini["p95 (ms)"], mini["SLO p95 (ms)"], mini["latency"]) == ("1,950", "2,850", "2,500", "breaks SLO")
    assert (big["p50 (ms)"], big["p95 (ms)"], big["route"], big["latency"]) == ("800", "800", "recommended, today", "within SLO")
    assert shown["critic", "gpt-4o"]["latency"] == "breaks SLO"
    warnings = [w.value for w in at.warning]
    critic = next(r for r in body["routes"] if r["role"] == "critic")["latency"]
    assert (f"`critic` → `gpt-4o` breaks its latency SLO: p95 {critic['p95_ms']:,} ms > 100 ms (pinned)"
            in warnings), warnings
    routes = at.dataframe[0].value
    assert "excluded for latency: gpt-4o-mini p95 2,850 ms > SLO 2,500 ms" in routes[routes["role"] == "drafter"]["why"].item()
