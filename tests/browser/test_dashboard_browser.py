"""The dashboard in a real browser: `streamlit run dashboard/app.py` against a real collector, driven
by Playwright in Debian's chromium. Key numbers on screen must equal the read API's; screenshots of
every page go to tests/artifacts/ (gitignored) for a human to look at."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from support import free_port, running_dashboard
from tierscope.collector.server.background import BackgroundCollector
from sample_data import SAMPLE_POLICY, sample_traces, send
from tierscope.dashboard.transforms import money_text
from tierscope.settings import Settings

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WAIT_MS = 60_000

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[BackgroundCollector]:
    home = tmp_path_factory.mktemp("browser")
    (home / "routing-policy.yaml").write_text(SAMPLE_POLICY)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERSCOPE_POLICY_FILE", str(home / "routing-policy.yaml"))  # read by GET misrouted
        settings = Settings(store=f"chdb:{home / 'store'}", http_port=free_port(), grpc_port=0, prices_file="")
        with BackgroundCollector(settings) as running:
            send(running.url, sample_traces(np.random.default_rng(11), 80))
            yield running


@pytest.fixture(scope="module")
def dashboard(collector, tmp_path_factory) -> Iterator[str]:
    with running_dashboard(collector.url, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, dashboard) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    yield context.new_page()
    context.close()


# --- helpers --------------------------------------------------------------------------------------

def settle(page) -> None:
    """Wait until the app script has finished its current run."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=WAIT_MS)
    page.wait_for_timeout(300)


def open_page(page, base: str, path: str, heading: str, all_time: bool = True) -> None:
    page.goto(f"{base}/{path}")
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=WAIT_MS)
    if all_time:
        choose(page, "Time range", "All time", page.get_by_test_id("stSidebar"))
        expect(page.get_by_role("combobox", name="Time range")).to_have_value("All time")
    settle(page)


def choose(page, label: str, option: str, within=None) -> None:
    """Pick `option` in the selectbox labelled `label` (typing filters the virtualised list)."""
    box = (within or page).get_by_test_id("stSelectbox").filter(
        has=page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True))
    box.scroll_into_view_if_needed()
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option).first.click()


def metric(page, label: str):
    return page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)).get_by_test_id("stMetricValue")


def screenshot(page, name: str) -> None:
    """The whole app: Streamlit scrolls inside its own container, so grow the viewport to fit it."""
    settle(page)
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1500, "height": max(1100, min(int(height) + 40, 6000))})
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size({"width": 1500, "height": 1100})


# --- pages ----------------------------------------------------------------------------------------

def test_navigation_lists_the_pages(page, dashboard):
    open_page(page, dashboard, "", "Spend", all_time=False)
    nav = page.get_by_test_id("stSidebarNav")
    expected = ["Spend", "Quality", "Month close", "Cost per task", "Misrouted", "Alerts", "Policy"]
    for title in expected:
        expect(nav.get_by_role("link", name=title)).to_be_visible()
    expect(nav.get_by_role("link")).to_have_count(len(expected))
    nav.get_by_role("link", name="Month close").click()
    expect(page.get_by_role("heading", name="Month close", exact=True)).to_be_visible(timeout=WAIT_MS)


def test_spend_page_numbers_and_drill_down(page, dashboard, api):
    open_page(page, dashboard, "", "Spend")
    spend = api.get("spend", by="role,tier,model")
    total = spend["total"]
    expect(metric(page, "Spend")).to_have_text(money_text(total["cost_usd"]), timeout=WAIT_MS)
    expect(metric(page, "Calls")).to_have_text(f"{total['spans']:,}")
    expect(metric(page, "Tokens")).to_have_text(f"{total['input_tokens'] + total['output_tokens']:,}")
    expect(metric(page, "Unpriced calls")).to_have_text(f"{total['unpriced_spans']:,}")
    expect(page.get_by_test_id("stAlert").filter(has_text="have no known price")).to_contain_text("in-house-llm")
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(3)
    screenshot(page, "spend")

    row = next(r for r in spend["rows"] if (r["role"], r["tier"], r["model"]) == ("formatter", "frontier", "gpt-4o"))
    choose(page, "Drill down into", "formatter · frontier · gpt-4o")
    expect(page.get_by_text(f"Spans — {row['spans']}, newest first")).to_be_visible(timeout=WAIT_MS)
    newest = api.get("spans", role="formatter", tier="frontier", model="gpt-4o", limit=1)["rows"][0]
    choose(page, "Open a trace", newest["trace_id"])
    expect(page.get_by_role("heading", name=f"Trace {newest['trace_id']}")).to_be_visible(timeout=WAIT_MS)
    trace = api.get(f"traces/{newest['trace_id']}")
    expect(metric(page, "Trace cost")).to_have_text(money_text(trace["cost_usd"]))
    expect(metric(page, "LLM calls")).to_have_text(str(len(trace["spans"])))
    screenshot(page, "spend_drilldown")


def test_month_close_page_and_csv(page, dashboard, api, tmp_path):
    open_page(page, dashboard, "month-close", "Month close", all_time=False)
    choose(page, "Month", "2026-10")
    close = api.get("month", month="2026-10", tz="UTC")
    expect(page.get_by_text(f"{close['since']} to {close['until']}")).to_be_visible(timeout=WAIT_MS)
    expect(metric(page, "Total")).to_have_text(money_text(close["total"]["cost_usd"]))
    expect(metric(page, "vs previous month")).to_have_text(money_text(close["total"]["change_usd"]))
    expect(metric(page, "Share unpriced")).to_have_text(f"{close['share_unpriced']:.1%}")
    screenshot(page, "month_close")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename == "tierscope-2026-10-UTC.csv"
    saved = tmp_path / "month.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(saved.open()))
    assert rows[-1]["row_type"] == "total" and rows[-1]["cost_usd"] == close["total"]["cost_usd"]
    assert sum(Decimal(r["cost_usd"]) for r in rows if r["row_type"] == "detail") == Decimal(close["total"]["cost_usd"])

    choose(page, "Time zone (month boundaries)", "Europe/Paris")
    paris = api.get("month", month="2026-10", tz="Europe/Paris")
    expect(page.get_by_text(f"{paris['since']} to {paris['until']}")).to_be_visible(timeout=WAIT_MS)
    expect(metric(page, "Total")).to_have_text(money_text(paris["total"]["cost_usd"]))


def test_misrouted_page(page, dashboard, api):
    open_page(page, dashboard, "misrouted", "Misrouted calls")
    result = api.get("misrouted")
    assert result["rows"], "the sample data has misrouted calls"
    expect(metric(page, "Potential saving")).to_have_text(money_text(result["total_saving_usd"]), timeout=WAIT_MS)
    expect(metric(page, "Flagged calls")).to_have_text(f"{result['flagged_calls']:,}")
    expect(metric(page, "Routing policy")).to_have_text("v7")
    expect(page.get_by_text("Pinned by policy, never flagged: critic.")).to_be_visible()
    screenshot(page, "misrouted")

    top = result["rows"][0]
    choose(page, "Drill down into", f"{top['role']} · {top['tier']} · {top['model']}")
    expect(page.get_by_text(f"Spans — {top['calls']}, newest first")).to_be_visible(timeout=WAIT_MS)
    screenshot(page, "misrouted_drilldown")


def test_quality_page(page, dashboard, api):
    open_page(page, dashboard, "quality", "Quality")
    total = api.get("spend", by="role,tier")["total"]
    expect(metric(page, "Graded calls")).to_have_text(f"{total['quality_n']:,}", timeout=WAIT_MS)
    expect(metric(page, "Mean quality")).to_have_text(f"{total['quality_mean']:.3f}")
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(2)
    screenshot(page, "quality")
