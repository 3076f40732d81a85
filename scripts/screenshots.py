"""`make screenshots`: one PNG per dashboard page, of the demo fleet's data, into docs/screenshots/.

Reproducible: the business clock is pinned (`TIERSCOPE_NOW`, default 2026-11-20T12:00:00Z) and the
demo's history is sent with its fixed seed, so the same numbers come out on every run. What runs is
what a user runs: a real collector on a fresh embedded store, the demo fleet's history sent through
the OpenTelemetry SDK and its OTLP exporter (`tierscope.demo.workload`), the demo's alert rules armed
through the API, the dashboard served as `tierscope up` serves it (`tierscope.launch.dashboard_command`)
and Debian's chromium driven by Playwright, as in the browser tests.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--spans-per-day 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from tierscope import clock
from tierscope.collector.server.background import BackgroundCollector
from tierscope.demo.workload import DEMO_RULES, arm_demo_alerts, send_history
from tierscope.instrumentation import configure
from tierscope.launch import dashboard_command
from tierscope.settings import Settings

NOW = "2026-11-20T12:00:00Z"  # the business clock's pinned instant (TIERSCOPE_NOW), unless the caller sets one
DIP_RULE = DEMO_RULES[0]["rule_id"]  # the worker's quality rule
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
WAIT_MS = 60_000
# (file name, URL path, page heading): one per dashboard page, in the sidebar's order.
PAGES = [("spend", "", "Spend"), ("quality", "quality", "Quality"), ("month-close", "month-close", "Month close"),
         ("misrouted", "misrouted", "Misrouted calls"), ("alerts", "alerts", "Alerts"),
         ("policy", "policy", "Recommended policy")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(url: str, settings: Settings, spans_per_day: int) -> int:
    """The demo's 45 days of history, ending at the pinned now, then its alert rules; returns spans sent."""
    provider = configure(service_name="demo-agents", endpoint=url, protocol="http/protobuf",
                         resource_attributes={"deployment.environment.name": "demo"})
    # send_history stamps day d at now - d days - up to one day: shifted by a day, the last day
    # of history is the one that ends at the pinned now (the demo fills it with live traffic).
    sent = send_history(45, spans_per_day, random.Random(7), clock.now() + timedelta(days=1))
    provider.force_flush()
    provider.shutdown()
    arm_demo_alerts(url, settings)
    return sent


def wait_for(what: str, ready: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: {what} not ready within {timeout:.0f} s")
        time.sleep(0.5)


def stored(url: str, expected: int) -> bool:
    return httpx.get(f"{url}/api/v1/spend", params={"by": "role"}, timeout=30).json()["total"]["spans"] >= expected


def dip_alert_fired(url: str) -> bool:
    """The demo's worker rule has fired on its quality side (the history's last-day quality dip)."""
    rules = httpx.get(f"{url}/api/v1/alerts", timeout=30).json()["rules"]
    return any(r["rule_id"] == DIP_RULE and r["state"]["quality"] == "fired" for r in rules)


def shoot(base: str, out: Path) -> list[Path]:
    """Open each page in chromium, wait for its script and charts, and save the viewport."""
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        for name, path, heading in PAGES:
            page.goto(f"{base}/{path}")
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=WAIT_MS)
            page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=WAIT_MS)
            page.wait_for_timeout(1500)  # plotly draws after the script has finished
            target = out / f"{name}.png"
            page.screenshot(path=str(target))
            written.append(target)
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--spans-per-day", type=int, default=1000,
                        help="demo history density (enough calls in the last hour for the alert rules)")
    args = parser.parse_args()
    # clock.now() reads the variable on every call: set here, it holds for this process's collector
    # and for the dashboard process started below.
    os.environ[clock.ENV] = os.environ.get(clock.ENV) or NOW
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"screenshots: {CHROMIUM} is missing (make chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tierscope-shots-") as home:
        settings = Settings(store=f"chdb:{home}/store", http_port=free_port(), grpc_port=0, prices_file="",
                            policy_file=f"{home}/routing-policy.yaml", alert_interval_s=2)
        with BackgroundCollector(settings) as collector:
            sent = fill(collector.url, settings, args.spans_per_day)
            wait_for("the demo history", lambda: stored(collector.url, sent))
            wait_for("the quality alert", lambda: dip_alert_fired(collector.url))
            port = free_port()
            log = Path(home) / "streamlit.log"
            with log.open("w") as sink:
                dashboard = subprocess.Popen(dashboard_command(port, "127.0.0.1"), stdout=sink,
                                             stderr=subprocess.STDOUT,
                                             env={**os.environ, "TIERSCOPE_API": collector.url})
                try:
                    base = f"http://127.0.0.1:{port}"
                    wait_for("the dashboard", lambda: _up(f"{base}/_stcore/health"))
                    written = shoot(base, args.out)
                finally:
                    dashboard.terminate()
                    dashboard.wait(30)
    for target in written:
        print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}  {target.stat().st_size:,} bytes")
    print(f"{sent:,} demo spans, now pinned at {os.environ[clock.ENV]}")
    return 0


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
