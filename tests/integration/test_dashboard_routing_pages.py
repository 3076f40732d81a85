"""Issue 4's dashboard pages under AppTest against a real collector: the Alerts page arms a rule
through its form and shows its state; the Policy page shows the API's recommendation."""

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
    (home / "routing-policy.yaml").write_text(SAMPLE_POLICY)
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
