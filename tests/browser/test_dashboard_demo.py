"""`tierscope demo` itself, in a real browser: the command a new user runs first, end to end.

The demo process (collector, dashboard, and its workload through the real SDK shims) is started on
free ports; once its history is in (it arms its alert rules right after), Playwright drives
Debian's chromium through every page. The demo's clock is pinned to NOW; live traffic keeps
arriving, so numbers are compared over a closed window (custom dates ending the day before NOW,
and last month's close), where the screen and the read API must agree exactly. Screenshots go to
tests/artifacts/demo_*.png.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from support import free_port
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, choose, expect, metric, screenshot, settle

from tierscope import clock
from tierscope.client import ApiClient
from tierscope.dashboard.drilldown import SPAN_LIMIT
from tierscope.dashboard.transforms import money_text
from tierscope.launch import terminate

pytestmark = pytest.mark.browser
# The demo's clock is pinned (TIERSCOPE_NOW in its environment: its history, dashboard and read API
# all read it), so "today", the closed window and last month are the same whatever the date. Its
# live traffic carries the real time, later than the pin, so it never enters the windows compared.
NOW = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)  # the last minute of a month
TODAY = NOW.date()
START, END = TODAY - timedelta(days=14), TODAY - timedelta(days=1)  # whole days, all history
LAST_MONTH = (TODAY.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
PAGES = [("", "Spend"), ("quality", "Quality"), ("month-close", "Month close"), ("misrouted", "Misrouted calls"),
         ("alerts", "Alerts"), ("policy", "Recommended policy")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIERSCOPE_", "OTEL_"))}
    env[clock.ENV] = NOW.isoformat()
    for attempt in range(3):  # a port picked free can be taken by another test before the demo binds it
        ports = {"http": free_port(), "grpc": free_port(), "dashboard": free_port()}
        log = (home / "demo.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "tierscope.cli", "demo", "--store", f"chdb:{home / 'store'}",
             "--http-port", str(ports["http"]), "--grpc-port", str(ports["grpc"]),
             "--dashboard-port", str(ports["dashboard"])],
            cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
        listening = time.monotonic() + 120
        while process.poll() is None and not _up(f"http://127.0.0.1:{ports['http']}/healthz") \
                and time.monotonic() < listening:
            time.sleep(0.2)
        if process.poll() is None or "in use" not in (home / "demo.log").read_text() or attempt == 2:
            break
        log.close()
    api_url, url = f"http://127.0.0.1:{ports['http']}", f"http://127.0.0.1:{ports['dashboard']}"
    try:
        deadline = time.monotonic() + 240
        while not _history_in(api_url) or not _up(f"{url}/_stcore/health"):
            assert process.poll() is None, f"tierscope demo exited; see {log.name}"
            assert time.monotonic() < deadline, f"the demo's history was not in within 240 s; see {log.name}"
            time.sleep(1)
        yield {"api": api_url, "url": url}
    finally:  # SIGTERM: the demo stops its dashboard and collector (checked below: no orphan left)
        terminate(process, 30)
        log.close()
        deadline = time.monotonic() + 15
        while _up(f"{url}/_stcore/health") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _up(f"{url}/_stcore/health"), "tierscope demo left its dashboard running after SIGTERM"


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _history_in(api_url: str) -> bool:
    """The demo arms its alert rules once every historical span is flushed."""
    try:
        return bool(httpx.get(f"{api_url}/api/v1/alerts", timeout=5).json().get("rules"))
    except (httpx.HTTPError, ValueError):
        return False


@pytest.fixture(scope="module")
def api(demo) -> Iterator[ApiClient]:
    client = ApiClient(demo["api"])
    yield client
    client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, demo) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    yield context.new_page()
    context.close()


def window() -> dict[str, str]:
    """The read-API scope of the custom dates START..END (the dashboard's, exactly)."""
    since = datetime.combine(START, datetime.min.time(), UTC)
    until = datetime.combine(END + timedelta(days=1), datetime.min.time(), UTC)
    return {"since": since.isoformat(), "until": until.isoformat()}


def pick_dates(page, start: date, end: date) -> None:
    """Custom dates in the sidebar, typed segment by segment into the date-range field."""
    choose(page, "Time range", "Custom dates", page.get_by_test_id("stSidebar"))
    for which, day in (("start", start), ("end", end)):
        for segment, value in (("year", f"{day.year}"), ("month", f"{day.month:02d}"), ("day", f"{day.day:02d}")):
            page.get_by_role("spinbutton", name=f"{segment}, From – to (UTC) {which} date").click()
            page.keyboard.type(value)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_role("heading", level=1).first.click()  # close the calendar: commits the range
    expect(page.get_by_text(f"{start} to {end}", exact=False).first).to_be_visible(timeout=WAIT_MS)
    settle(page)


def test_every_page_renders_on_the_demo(page, demo):
    for path, heading in PAGES:
        page.goto(f"{demo['url']}/{path}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=WAIT_MS)
        settle(page)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        screenshot(page, f"demo_{path or 'spend'}")


def test_spend_on_the_demo_equals_the_api_and_drills_down(page, demo, api):
    page.goto(demo["url"])
    expect(page.get_by_role("heading", name="Spend", exact=True)).to_be_visible(timeout=WAIT_MS)
    pick_dates(page, START, END)
    spend = api.get("spend", by="role,tier,model", **window())
    total = spend["total"]
    assert total["spans"] > 1_000 and total["unpriced_spans"] > 0  # the demo's history, with unpriced models
    expect(metric(page, "Spend")).to_have_text(money_text(total["cost_usd"]), timeout=WAIT_MS)
    expect(metric(page, "Calls")).to_have_text(f"{total['spans']:,}")
    expect(metric(page, "Tokens")).to_have_text(f"{total['input_tokens'] + total['output_tokens']:,}")
    expect(metric(page, "Unpriced calls")).to_have_text(f"{total['unpriced_spans']:,}")
    screenshot(page, "demo_spend_window")

    top = spend["rows"][0]
    choose(page, "Drill down into", f"{top['role']} · {top['tier']} · {top['model']}")
    shown = f"the newest {SPAN_LIMIT}" if top["spans"] >= SPAN_LIMIT else top["spans"]
    expect(page.get_by_text(f"Spans — {shown}, newest first")).to_be_visible(timeout=WAIT_MS)
    newest = api.get("spans", role=top["role"], tier=top["tier"], model=top["model"], limit=1, **window())["rows"][0]
    choose(page, "Open a trace", newest["trace_id"])
    expect(page.get_by_role("heading", name=f"Trace {newest['trace_id']}")).to_be_visible(timeout=WAIT_MS)
    trace = api.get(f"traces/{newest['trace_id']}")
    expect(metric(page, "Trace cost")).to_have_text(money_text(trace["cost_usd"]))
    screenshot(page, "demo_spend_drilldown")


def test_last_months_close_on_the_demo_and_its_csv(page, demo, api, tmp_path):
    page.goto(f"{demo['url']}/month-close")
    expect(page.get_by_role("heading", name="Month close", exact=True)).to_be_visible(timeout=WAIT_MS)
    settle(page)
    choose(page, "Month", LAST_MONTH)
    close = api.get("month", month=LAST_MONTH, tz="UTC")
    assert close["complete"] and close["total"]["spans"] > 1_000
    expect(page.get_by_text(f"{close['since']} to {close['until']}")).to_be_visible(timeout=WAIT_MS)
    expect(metric(page, "Total")).to_have_text(money_text(close["total"]["cost_usd"]))
    screenshot(page, "demo_month_close")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "month.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(saved.open()))
    assert rows[-1]["row_type"] == "total" and rows[-1]["cost_usd"] == close["total"]["cost_usd"]
    assert sum(Decimal(r["cost_usd"]) for r in rows if r["row_type"] == "detail") == Decimal(close["total"]["cost_usd"])


def test_quality_and_misrouted_on_the_demo_equal_the_api(page, demo, api):
    page.goto(f"{demo['url']}/quality")
    expect(page.get_by_role("heading", name="Quality", exact=True)).to_be_visible(timeout=WAIT_MS)
    pick_dates(page, START, END)
    total = api.get("spend", by="role,tier", **window())["total"]
    expect(metric(page, "Graded calls")).to_have_text(f"{total['quality_n']:,}", timeout=WAIT_MS)
    expect(metric(page, "Mean quality")).to_have_text(f"{total['quality_mean']:.3f}")

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Misrouted").click()
    expect(page.get_by_role("heading", name="Misrouted calls", exact=True)).to_be_visible(timeout=WAIT_MS)
    settle(page)
    result = api.get("misrouted", **window())
    expect(metric(page, "Potential saving")).to_have_text(money_text(result["total_saving_usd"]), timeout=WAIT_MS)
    expect(metric(page, "Flagged calls")).to_have_text(f"{result['flagged_calls']:,}")
    screenshot(page, "demo_misrouted_window")
