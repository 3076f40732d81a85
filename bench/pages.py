"""Section 4b: how long each dashboard page takes to render in a real browser at 10 M spans.

The dashboard's Streamlit server, started as `tierscope up` starts it, against the query section's
collector, driven by Playwright in Debian's chromium. A page counts as rendered when its title is on
screen, the app script has finished (Streamlit's `data-test-script-state="notRunning"`) and every
plotly chart has drawn. One browser session loads the app once (that includes downloading and
parsing Streamlit's and plotly's JavaScript), then opens each page from the sidebar as a user does:
cold (the dashboard's 30-second answer cache is empty for that page's queries, so every number
comes from the collector) and again after visiting another page (warm).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from collector_process import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PAGES = [("", "Spend"), ("quality", "Quality"), ("month-close", "Month close"), ("misrouted", "Misrouted calls"),
         ("alerts", "Alerts"), ("policy", "Recommended policy"), ("cost-per-task", "Cost per task")]


@dataclass
class PageTiming:
    page: str
    cold_ms: float
    warm_ms: float
    note: str = ""


def time_pages(api_url: str, timeout_s: float = 120, pages: list[tuple[str, str]] = PAGES) -> list[PageTiming]:
    """Cold and warm render time of each of `pages` (path, title; the first is the app's home page),
    reached from the sidebar as a user would, in Debian's chromium."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TIERSCOPE_")}, "TIERSCOPE_API": api_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "tierscope.dashboard.serve", "--server.headless", "true",  # as `tierscope up` runs it
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    out: list[PageTiming] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            context = browser.new_context(viewport={"width": 1500, "height": 1100})
            page = context.new_page()
            first = _timed(page, lambda: page.goto(url), "Spend", timeout_s)
            out.append(PageTiming("first load of the app (Spend, incl. the JS bundle)", first, float("nan")))
            for path, title in [*pages[1:], pages[0]]:
                try:
                    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=_NAV.get(title, title))
                    cold = _timed(page, link.click, title, timeout_s)
                    page.goto(f"{url}/{path}")  # leave and come back: the answers are cached now
                    page.wait_for_selector(_DONE, timeout=timeout_s * 1000)
                    other = page.get_by_test_id("stSidebarNav").get_by_role("link", name="Alerts" if title != "Alerts" else "Spend")
                    _timed(page, other.click, "Alerts" if title != "Alerts" else "Spend", timeout_s)
                    warm = _timed(page, link.click, title, timeout_s)
                    out.append(PageTiming(title, cold, warm))
                except Exception as exc:  # noqa: BLE001 - report the page as failed, time the rest
                    out.append(PageTiming(title, float("nan"), float("nan"), str(exc).splitlines()[0][:120]))
            context.close()
            browser.close()
    finally:
        process.terminate()
        process.wait(30)
    return out


_DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# The script can finish before plotly has drawn (its ~3.5 MB library is parsed on the first chart of a
# session: ~1.8 s of main-thread time here); a page counts as rendered once every chart has its SVG.
_CHARTS_DRAWN = ("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
                 ".every(chart => chart.querySelector('.main-svg'))")
_NAV = {"Misrouted calls": "Misrouted", "Recommended policy": "Policy"}


def _timed(page, action, title: str, timeout_s: float) -> float:  # noqa: ANN001
    """ms from `action` (a navigation) until `title` is on screen and the app script has finished."""
    t0 = time.monotonic()
    action()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=timeout_s * 1000)
    page.wait_for_timeout(50)  # let the rerun start before waiting for it to finish
    page.wait_for_selector(_DONE, timeout=timeout_s * 1000)
    page.wait_for_function(_CHARTS_DRAWN, timeout=timeout_s * 1000)
    elapsed = (time.monotonic() - t0) * 1000
    if page.get_by_test_id("stException").count():
        raise RuntimeError(f"{title}: the page raised an exception")
    return elapsed


def main() -> None:
    """Time the pages (and the read API) on a store built earlier by `query.build_store`:

        python bench/pages.py STORE_PATH [--endpoints]
    """
    import argparse

    import query
    from collector_process import CollectorProcess

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--endpoints", action="store_true", help="time the read API first, as `make bench` does")
    parser.add_argument("--trace-id", default="", help="a trace id for the traces/{id} endpoint")
    args = parser.parse_args()
    with CollectorProcess(store=args.store, env={"TIERSCOPE_ALERT_INTERVAL_S": "0",
                                                 "TIERSCOPE_ROLLUP_INTERVAL_S": "0"}) as collector:
        if args.endpoints:
            for t in query.time_endpoints(collector, args.trace_id or "0" * 32, budget_s=240):
                print(f"{t.label:40} p50 {t.p50_ms:7,.0f}  p95 {t.p95_ms:7,.0f} ms  n={t.runs} {t.note}", flush=True)
        for t in time_pages(collector.url):
            print(f"{t.page:55} cold {t.cold_ms:7,.0f}  warm {t.warm_ms:7,.0f} ms {t.note}", flush=True)


if __name__ == "__main__":
    main()
