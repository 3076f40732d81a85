"""Issue 5, store down at startup: a ClickHouse server that does not answer when the collector starts
does not stop it. Spans are acknowledged into the fsync'd spool, reads answer 503 "store unavailable",
the connection and migrations are retried in the background, and the spool drains with zero loss
once the store answers. An embedded store held by another process stays a hard, clear error.

No ClickHouse server runs here, so the outage is real (clickhouse-connect against a port where
nothing listens) and the recovery is the real engine (chdb) behind the same opener.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import httpx
import pytest
from click.testing import CliRunner

from support import free_port, serve_collector, wait_healthy
from test_durability import batch, expected_cost, post
from tierscope.cli import main
from tierscope.client import ApiClient
from tierscope.collector.store.reconnect import ReconnectingStore, StoreUnavailable, open_store
from tierscope.collector.server.background import BackgroundCollector
from tierscope.collector.server.service import Collector
from tierscope.collector.store.clickhouse import VIEWS, Store, StoreError
from tierscope.settings import Settings


def dead_store_url() -> str:
    """A ClickHouse HTTP address where nothing listens (a free port, bound by no one)."""
    return f"http://default:secret@127.0.0.1:{free_port()}/tierscope"


class ServerThatComesBack:
    """Opens the real server URL (and fails like a dead server does) until `up` is set; then opens
    a real ClickHouse engine (chdb) in its place, as the server would answer once it is back."""

    def __init__(self, chdb_path) -> None:
        self.chdb_path = chdb_path
        self.up = threading.Event()
        self.calls = 0

    def __call__(self, url: str) -> Store:
        self.calls += 1
        if not self.up.is_set():
            return Store(url)  # raises StoreError: connection refused
        return Store(f"chdb:{self.chdb_path}")


def wait_for(condition, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_collector_starts_with_its_server_store_down_spools_answers_503_then_drains(tmp_path):
    url = dead_store_url()
    server = ServerThatComesBack(tmp_path / "engine")
    store = open_store(url, opener=server, first_delay=0.1, max_delay=0.5)
    assert isinstance(store, ReconnectingStore) and not store.available
    settings = Settings(store=url, http_port=free_port(), grpc_port=0, prices_file="",
                        spool_dir=str(tmp_path / "spool"), alert_interval_s=0)
    with BackgroundCollector(settings, Collector(settings, store=store)) as background:
        base = background.url
        health = httpx.get(f"{base}/healthz").json()
        assert health["status"] == "degraded" and "Connection refused" in health["error"]

        acked = [n for n in range(1, 11) if post(base, batch(n)).status_code == 200]
        assert acked == list(range(1, 11))  # acknowledged: on disk, fsync'd
        assert background.collector.log.backlog().records > 0

        read = httpx.get(f"{base}/api/v1/spend", params={"by": "role"})
        assert read.status_code == 503 and read.headers["retry-after"]
        assert read.json()["error"].startswith("store unavailable: ")
        assert "127.0.0.1" in read.json()["error"] and "Connection refused" in read.json()["error"]
        assert "secret" not in read.json()["error"]  # the password never leaves the collector
        assert httpx.get(f"{base}/api/v1/traces/{1:032x}").status_code == 503
        cli = CliRunner().invoke(main, ["spend", "--by", "role", "--api", base])
        assert cli.exit_code != 0 and "503: store unavailable" in cli.output and "Traceback" not in cli.output
        attempts_while_down = server.calls
        wait_for(lambda: server.calls >= attempts_while_down + 2, what="background retries")

        server.up.set()  # the server answers: connect, migrate, drain
        wait_for(lambda: store.available, what="the store to connect")
        wait_for(lambda: background.collector.log.backlog().records == 0, what="the spool to drain")
        acked += [n for n in range(11, 14) if post(base, batch(n)).status_code == 200]  # straight to the store

        api = ApiClient(base)
        total = api.get("spend")["total"]
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    assert acked == list(range(1, 14))
    assert total["spans"] == 100 * len(acked)  # zero loss, nothing twice
    assert total["cost_usd"] is not None
    assert Decimal(total["cost_usd"]) == expected_cost(acked)


def test_serve_with_a_dead_server_store_starts_and_its_spool_survives_into_a_working_store(tmp_path):
    """The real `tierscope serve` process: up despite the dead store, acknowledging into the spool;
    stopped, then restarted on a working store with the same spool, every acknowledged span arrives."""
    port, spool = free_port(), tmp_path / "spool"
    env_spool = {"TIERSCOPE_SPOOL_DIR": str(spool), "TIERSCOPE_ALERT_INTERVAL_S": "0"}
    process = serve_collector(dead_store_url(), port, env_spool)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        assert [post(base, batch(n)).status_code for n in range(1, 6)] == [200] * 5
        read = httpx.get(f"{base}/api/v1/month", params={"month": "2026-11"})
        assert read.status_code == 503 and read.json()["error"].startswith("store unavailable: ")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, process.stderr.read().decode()
    assert list(spool.iterdir())  # still on disk: nothing was lost with the process

    process = serve_collector(f"chdb:{tmp_path / 'store'}", port, env_spool)
    try:
        wait_healthy(base, process)
        api = ApiClient(base)
        wait_for(lambda: api.get("spend")["total"]["spans"] == 500, what="the spool to drain")
        assert Decimal(api.get("spend")["total"]["cost_usd"]) == expected_cost(range(1, 6))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def test_an_embedded_store_locked_by_another_process_is_a_hard_clear_error(tmp_path):
    path, port = tmp_path / "store", free_port()
    holder = serve_collector(f"chdb:{path}", port, {})
    try:
        wait_healthy(f"http://127.0.0.1:{port}", holder)
        second = subprocess.run([sys.executable, "-m", "tierscope.cli", "serve", "--store", f"chdb:{path}",
                                 "--http-port", str(free_port()), "--grpc-port", "0", "--prices", ""],
                                capture_output=True, text=True, timeout=120)
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(60)
    assert second.returncode == 1
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "is locked by another process" in last, second.stderr
    assert f"PID {holder.pid}" in last


def test_a_server_that_refuses_our_credentials_is_a_hard_error_not_an_outage():
    def refusing(url: str) -> Store:
        # what Store() raises for clickhouse-connect's answer to a wrong password (first line only)
        raise StoreError("cannot open store http://127.0.0.1:8123/db: HTTPDriver for http://127.0.0.1:8123 received "
                         "ClickHouse error code 516")

    with pytest.raises(StoreError, match="error code 516: the server refused this user"):
        open_store("http://127.0.0.1:8123/db", opener=refusing)


def test_the_stand_in_raises_store_unavailable_until_connected_then_is_the_store(tmp_path):
    server = ServerThatComesBack(tmp_path / "engine")
    store = open_store(dead_store_url(), opener=server, first_delay=0.05, max_delay=0.1)
    try:
        with pytest.raises(StoreUnavailable, match=r"^store unavailable: http://127\.0\.0\.1:\d+/tierscope did not"):
            store.query("spend_by", {})
        server.up.set()
        wait_for(lambda: store.available, what="the store to connect")
        tables = {row[0] for row in store.rows("SELECT name FROM system.tables WHERE database = currentDatabase()")}
        assert {"llm_spans", "schema_migrations", *VIEWS} <= tables  # migrated on connect, views included
    finally:
        store.close()


def test_a_collector_that_cannot_bind_fails_to_start_and_closes_its_store(tmp_path):
    from tierscope.collector.server.background import BackgroundCollector

    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails, nothing is sent anywhere.
    settings = Settings(store=f"chdb:{tmp_path / 'store'}", host="192.0.2.1", http_port=free_port(), grpc_port=0,
                        prices_file="", tokens="a-token-of-twenty-chars=default")
    failed = BackgroundCollector(settings)
    with pytest.raises(OSError, match="not bindable"):  # never reported as started
        failed.start()
    with pytest.raises(Exception):  # the collector's own store was closed with it
        failed.collector.store.rows("SELECT 1")
