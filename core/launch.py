"""`tierscope up` and `tierscope demo`: the collector, the dashboard, and optionally a workload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import click
import httpx

from tierscope.client import ApiClient
from tierscope.settings import Settings


def wait_healthy(url: str, process: subprocess.Popen | None = None, path: str = "/healthz", timeout: float = 90,
                 log: str = "", interval: float = 0.2) -> None:
    """Poll `url + path` until it answers 200. RuntimeError at once if `process` exits first (with
    its stderr, or `log`), TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            detail = log or (process.stderr.read().decode() if process.stderr else "")
            raise RuntimeError(f"the process exited ({process.returncode}); {detail}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{url}{path} did not answer within {timeout:.0f} s")


def start_dashboard(settings: Settings, api_url: str) -> subprocess.Popen:
    env = {**os.environ, "TIERSCOPE_API": api_url}
    return subprocess.Popen(dashboard_command(settings.dashboard_port, settings.host), env=env)


def dashboard_command(port: int, host: str) -> list[str]:
    """Streamlit serving the dashboard, warmed up (tierscope.dashboard.serve) so the first visitor
    does not wait for pandas and plotly to load. The toolbar is minimal: no "Deploy" button, no
    developer menu (rerun, clear cache) for the people reading the numbers."""
    return [sys.executable, "-m", "tierscope.dashboard.serve", "--server.headless", "true",
            "--server.port", str(port), "--server.address", host, "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "minimal"]


def run_up(settings: Settings, workload: bool) -> None:
    from tierscope.collector.server.background import BackgroundCollector
    from tierscope.collector.store.clickhouse import StoreError

    try:
        collector = BackgroundCollector(settings).start()
    except (StoreError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    api_url = collector.url
    dashboard = start_dashboard(settings, api_url)
    click.echo(f"collector  OTLP http {api_url}/v1/traces, grpc {settings.host}:{settings.grpc_port}")
    try:  # the address is printed once it serves, not while Streamlit is still loading
        local = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        wait_healthy(f"http://{local}:{settings.dashboard_port}", dashboard, "/_stcore/health", timeout=60,
                     log="see the dashboard's output above")
    except RuntimeError as exc:
        collector.stop()
        raise click.ClickException(f"the dashboard did not start: {exc}") from None
    except TimeoutError:
        click.echo("dashboard  not answering yet after 60 s; still starting", err=True)
    click.echo(f"dashboard  http://{settings.host}:{settings.dashboard_port}")
    click.echo(f"store      {settings.store}")
    stop = threading.Event()
    if workload:
        from tierscope.demo.workload import run_workload

        threading.Thread(target=run_workload, args=(api_url, settings, stop), daemon=True,
                         name="tierscope-demo").start()
        click.echo("demo       sending a multi-role agent workload through the real shims (Ctrl-C stops)")
    # SIGTERM (docker stop, systemd, a test's terminate()) shuts down like Ctrl-C: without this
    # the default handler exits at once and leaves the Streamlit child running.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while dashboard.poll() is None and ApiClient(api_url).healthy():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        terminate(dashboard, 10)
        collector.stop()


def terminate(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
