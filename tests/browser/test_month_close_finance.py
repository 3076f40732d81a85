"""Month close's Budgets and Reconcile sections in a real browser (Playwright, Debian's chromium)
against a real collector with a pinned "now": set a budget in the form, read budget, actual and
forecast in the table (equal to the API's), remove it; upload a CSV invoice and read the
reconciliation, largest difference first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger import Span, insert
from support import running_collector, running_dashboard
from tierscope import clock
from tierscope.client import ApiClient
from tierscope.collector.server.background import BackgroundCollector

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, expect, settle  # noqa: E402  (skips without chromium)


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[BackgroundCollector]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(clock.ENV, "2026-12-11T00:00:00Z")  # collector and dashboard share the pinned clock
        with running_collector(tmp_path_factory.mktemp("budget-ui") / "store", alert_interval_s=0) as running:
            insert(running.collector.store, [Span("2026-12-01T10:00", "40"), Span("2026-12-05T10:00", "60"),
                                             Span("2026-12-06T10:00", None), Span("2026-12-07T10:00", "9", team="core")])
            with running_dashboard(running.url, tmp_path_factory.mktemp("st") / "streamlit.log") as url:
                running.dashboard_url = url
                yield running


@pytest.fixture
def page(collector) -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser.new_context(viewport={"width": 1500, "height": 1400}).new_page()
        browser.close()


def test_set_a_budget_and_read_budget_actual_and_forecast(page, collector):
    page.goto(f"{collector.dashboard_url}/month-close")
    expect(page.get_by_role("heading", name="Budgets", exact=True)).to_be_visible(timeout=WAIT_MS)
    settle(page)
    form = page.get_by_test_id("stForm")
    form.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name="team", exact=True).click()
    form.get_by_label("Name (team, role, feature or service)").fill("search")
    form.get_by_label("Monthly budget (USD)").fill("250")
    form.get_by_role("button", name="Save budget").click()
    settle(page)
    api = ApiClient(collector.url)
    budget = api.get("budgets")["budgets"][0]
    api.close()
    assert (budget["spent_usd"], budget["forecast_usd"], budget["unpriced_spans"]) == ("100", "310", 1)  # 100 x 31/10
    table = page.get_by_test_id("stDataFrame").filter(has_text="team search")
    expect(table).to_be_visible(timeout=WAIT_MS)
    for text in ("$250.00", "$100.00", "40.0%", "$310.00 ($", "124.0%"):
        expect(table.get_by_text(text).first).to_be_attached()
    page.get_by_role("button", name="Remove budget").click()
    expect(page.get_by_text("No budgets yet.", exact=False)).to_be_visible(timeout=WAIT_MS)


def test_reconcile_an_uploaded_invoice(page, collector, tmp_path):
    bill = tmp_path / "bill.csv"
    bill.write_text("date,provider,model,amount_usd\n2026-12-01,openai,gpt-4o-2024-08-06,150\n"
                    "2026-12-02,anthropic,claude-3-opus,2\n")
    page.goto(f"{collector.dashboard_url}/month-close")
    expect(page.get_by_role("heading", name="Reconcile", exact=True)).to_be_visible(timeout=WAIT_MS)
    settle(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(bill))
    table = page.get_by_test_id("stDataFrame").filter(has_text="claude-3-opus")
    expect(table).to_be_attached(timeout=WAIT_MS)
    for text in ("gpt-4o-2024-08-06", "$150.00", "$109.00", "$41.00", "$2.00"):
        expect(table.get_by_text(text).first).to_be_attached()
    coverage = page.get_by_test_id("stMetric").filter(has=page.get_by_text("Coverage", exact=True))
    expect(coverage.get_by_test_id("stMetricValue")).to_have_text("71.7%")  # 109 / 152
    first = table.locator('td[aria-colindex="2"]').first  # largest difference first
    expect(first).to_have_text("gpt-4o-2024-08-06")
