"""The Policy page's routing levers in a real browser: each role's tier shares, escalation and
failover rates and costs, spend, cache saving and batch saving, as GET /api/v1/levers gives them
(which tests/integration/test_levers.py checks against the raw spans to the last decimal).

The spans are test_levers' calls, priced by the collector's own pricer and written into the
collector's store; the dashboard's clock is pinned (TIERSCOPE_NOW) two days after them, so its
30-day evidence window holds all of them whatever the date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from support import running_collector, running_dashboard
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, expect, screenshot, settle

from tierscope import clock
from tierscope.client import ApiClient
from tierscope.collector.ingest.rows import spans_table
from tierscope.collector.pricing.prices import Pricer
from tierscope.dashboard.transforms import money_text
from tests.integration.test_levers import POLICY, T0, normalized

pytestmark = pytest.mark.browser
NOW = T0 + timedelta(days=2)


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[object]:
    home = tmp_path_factory.mktemp("levers")
    (home / "routing-policy.yaml").write_text(POLICY)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(clock.ENV, NOW.isoformat())
        with running_collector(home / "store", grpc_port=0, policy_file=str(home / "routing-policy.yaml")) as running:
            running.collector.store.insert("llm_spans", spans_table(normalized(), "default", Pricer(), 1))
            yield running


@pytest.fixture(scope="module")
def page(collector, tmp_path_factory) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as env:
        env.setenv(clock.ENV, NOW.isoformat())
        with running_dashboard(collector.url, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url, \
                sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1700, "height": 1400})
            page = context.new_page()
            page.goto(f"{url}/policy")
            yield page
            browser.close()


def test_the_policy_page_shows_each_roles_levers(page, collector):
    api = ApiClient(collector.url)
    since = (NOW.replace(minute=0, second=0, microsecond=0) - timedelta(days=30)).isoformat()
    body = api.get("levers", since=since, until=NOW.isoformat(), bucket="day")
    api.close()
    expect(page.get_by_role("heading", name="Routing levers by role")).to_be_visible(timeout=WAIT_MS)
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    table = page.get_by_test_id("stDataFrame").filter(has_text="input read from cache")
    expect(table).to_be_attached(timeout=WAIT_MS)
    roles = {r["role"]: r for r in body["roles"]}
    worker, summarizer = roles["worker"], roles["summarizer"]
    assert (worker["escalations"]["rate"], worker["failovers"]["rate"]) == (0.25, 0.25)
    for text in ("worker", "summarizer", "formatter", "frontier 50.0%  mid 50.0%", "25.0%",
                 money_text(worker["cost_usd"]), money_text(worker["escalations"]["cost_usd"]),
                 money_text(worker["failovers"]["cost_usd"]), money_text(worker["cache"]["saving_usd"]),
                 money_text(summarizer["batch"]["saving_usd"]), "— (interactive)"):
        expect(table.get_by_text(text, exact=True).first).to_be_attached()
    expect(page.get_by_text("Calls per tier per day: summarizer")).to_be_attached()  # the dearest role first
    screenshot(page, "policy_levers")
