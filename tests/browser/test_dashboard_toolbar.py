"""The dashboard hides Streamlit's "Deploy" button and developer menu (`client.toolbarMode = "minimal"`).

The dashboard is served as `tierscope up` serves it (`launch.dashboard_command`, through
`support.running_dashboard`) against a real collector, and opened in Debian's chromium. A control
server runs the same command with the toolbar in Streamlit's "developer" mode, where the button
is shown: it proves the selector finds the button when there is one, so its absence means something.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import free_port, running_collector, running_dashboard, wait_healthy
from test_dashboard_browser import WAIT_MS, browser, expect, settle  # noqa: F401  (browser: the shared chromium fixture)

from tierscope.launch import dashboard_command

pytestmark = pytest.mark.browser
DEPLOY = "stAppDeployButton"  # Streamlit's test id of the header's Deploy button


def test_the_dashboard_command_asks_for_a_minimal_toolbar():
    command = dashboard_command(8501, "127.0.0.1")
    assert command[command.index("--client.toolbarMode") + 1] == "minimal"


@pytest.fixture(scope="module")
def collector_url(tmp_path_factory) -> Iterator[str]:
    with running_collector(tmp_path_factory.mktemp("toolbar") / "store") as collector:
        yield collector.url


def header_of(browser, url: str):
    """Open `url` and return the page once the app has run (an empty store: its "no spans yet" text)."""
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(url)
    expect(page.get_by_test_id("stHeader")).to_be_attached(timeout=WAIT_MS)
    expect(page.get_by_text("Spend, quality and routing findings appear here")).to_be_visible(timeout=WAIT_MS)
    settle(page)
    return page


def test_no_deploy_button_in_the_dashboard(browser, collector_url, tmp_path):
    with running_dashboard(collector_url, tmp_path / "streamlit.log") as url:
        page = header_of(browser, url)
        expect(page.get_by_test_id(DEPLOY)).to_have_count(0)
        expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
        expect(page.get_by_test_id("stMainMenu")).to_have_count(0)  # no rerun / clear-cache menu either
        page.context.close()


def test_control_developer_toolbar_shows_the_deploy_button(browser, collector_url, tmp_path):
    port = free_port()
    command = dashboard_command(port, "127.0.0.1")
    command[command.index("--client.toolbarMode") + 1] = "developer"
    log_path: Path = tmp_path / "control.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env={**os.environ, "TIERSCOPE_API": collector_url},
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", process, "/_stcore/health", timeout=60, log=f"see {log_path}")
            page = header_of(browser, f"http://127.0.0.1:{port}")
            expect(page.get_by_test_id(DEPLOY)).to_be_visible(timeout=WAIT_MS)
            page.context.close()
        finally:
            process.terminate()
            process.wait(30)
