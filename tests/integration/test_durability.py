"""An OTLP success means on local disk (the ingest log, fsync'd); kill -9, store outages and retry
storms lose nothing and count nothing twice."""

from __future__ import annotations

import random
import signal
import threading
import time
from decimal import Decimal

import httpx
from genai_prices import Usage, calc_price
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from support import free_port, running_collector, serve_collector, wait_healthy
from tierscope.client import ApiClient
from tierscope.collector.store.clickhouse import Store

START_NS = 1_795_000_000_000_000_000


def batch(trace_no: int, spans: int = 100, model: str = "gpt-4o", plain: int = 0) -> bytes:
    """One OTLP request: `spans` LLM spans of one trace, then `plain` non-LLM spans; ids derive from
    trace_no, so a resend is identical."""
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for i in range(spans + plain):
        span = ss.spans.add(name="chat", trace_id=trace_no.to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"),
                            start_time_unix_nano=START_NS + trace_no * 1000 + i, end_time_unix_nano=START_NS + 10**9)
        if i >= spans:
            continue
        for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.provider.name", "openai"),
                           ("gen_ai.request.model", model), ("tierscope.role", f"r{trace_no % 3}")):
            span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
        for key, value in (("gen_ai.usage.input_tokens", 1000 + trace_no), ("gen_ai.usage.output_tokens", 10 + i)):
            span.attributes.append(KeyValue(key=key, value=AnyValue(int_value=value)))
    return request.SerializeToString()


def expected_cost(trace_nos, spans=100) -> Decimal:
    return sum((calc_price(Usage(input_tokens=1000 + t, output_tokens=10 + i), model_ref="gpt-4o",
                           provider_id="openai").total_price for t in trace_nos for i in range(spans)), Decimal(0))


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}/v1/traces", content=body, headers={"content-type": "application/x-protobuf"}, timeout=30)


def _send_until_acked(url: str, n: int, stop: threading.Event) -> None:
    """An exporter that never gives up: resend batch `n` until the collector acknowledges it."""
    while not stop.is_set():
        try:
            if post(url, batch(n)).status_code == 200:
                return
        except httpx.HTTPError:  # the collector is down (killed, restarting): retry
            pass
        time.sleep(0.05)


def test_sigkill_under_load_and_restart_with_retrying_clients_gives_exact_totals(tmp_path):
    """kill -9 mid-load (appends, fsyncs, segment rotations and inserts all in flight: 1 MiB segments),
    restart on the same store and port; clients resend until acknowledged: every span exactly once."""
    store, port = f"chdb:{tmp_path / 'store'}", free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"TIERSCOPE_LOG_SEGMENT_MB": "1", "TIERSCOPE_ALERT_INTERVAL_S": "0"}
    proc = serve_collector(store, port, env)
    wait_healthy(url, proc)
    traces = list(range(1, 101))
    acked: list[int] = []
    stop = threading.Event()

    def sender(lane: list[int]) -> None:
        for n in lane:
            _send_until_acked(url, n, stop)
            acked.append(n)

    threads = [threading.Thread(target=sender, args=(traces[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        while len(acked) < 30:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = serve_collector(store, port, env)  # the senders keep retrying meanwhile
        for t in threads:
            t.join(120)
        assert sorted(acked) == traces
        api = ApiClient(url)
        body = api.get("spend", by="role")
        stats = api.get("stats")
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert body["total"]["spans"] == 100 * len(traces)
    assert Decimal(body["total"]["cost_usd"]) == expected_cost(traces)
    assert {r["role"]: r["spans"] for r in body["rows"]} == {f"r{k}": 100 * len([n for n in traces if n % 3 == k])
                                                            for k in range(3)}
    assert stats["log_records"] == 0 and stats["spans_rejected"] == 0


class FlakyStore(Store):
    """The real store, with a switch that makes every insert fail (a dead ClickHouse)."""

    down = False

    def insert(self, table, rows):
        if self.down:
            raise ConnectionError("injected: store unavailable")
        super().insert(table, rows)


def test_store_outage_keeps_acking_into_the_log_then_drains_with_zero_loss_and_a_bounded_log(tmp_path):
    from tierscope.collector.server.background import BackgroundCollector
    from tierscope.collector.server.service import Collector
    from tierscope.settings import Settings

    settings = Settings(store=f"chdb:{tmp_path / 's'}", http_port=free_port(), grpc_port=0, prices_file="",
                        spool_max_mb=1, degraded_backlog_s=0.5, alert_interval_s=0)
    store = FlakyStore(settings.store)
    with BackgroundCollector(settings, Collector(settings, store=store)) as background:
        url, log = background.url, background.collector.log
        assert post(url, batch(1)).status_code == 200
        assert background.collector.flush(timeout=10)  # batch 1 is in the store before it goes down
        store.down = True
        accepted = [n for n in range(2, 12) if post(url, batch(n)).status_code == 200]
        assert accepted == list(range(2, 12))  # on local disk and acknowledged
        refused = None
        for n in range(12, 400):  # fill the 1 MiB log: then 429 with Retry-After, nothing acked
            r = post(url, batch(n))
            if r.status_code != 200:
                refused = r
                break
            accepted.append(n)
        assert refused is not None and refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert 0 < log.backlog().bytes <= 1 << 20
        time.sleep(0.6)
        health = httpx.get(f"{url}/healthz").json()
        assert health["status"] == "degraded" and "injected: store unavailable" in health["error"]
        stats = httpx.get(f"{url}/api/v1/stats").json()
        assert stats["log_records"] == len(accepted) and stats["log_oldest_age_s"] >= 0.5
        assert stats["rejected_overload"] == 1 and stats["store_available"] is False
        assert httpx.get(f"{url}/api/v1/stats?wait=0").json()["log_records"] == len(accepted)  # no read barrier
        store.down = False
        total = ApiClient(url).get("spend")["total"]  # waits for what was acked before it
        assert log.backlog().records == 0
        assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
    assert total["spans"] == 100 * (1 + len(accepted))
    assert Decimal(total["cost_usd"]) == expected_cost([1, *accepted])


def test_retry_storm_totals_identical_to_sending_once(tmp_path):
    rng = random.Random(5)
    plan = []
    for n in range(1, 31):
        plan += [n] * rng.choice([1, 2, 3])  # every batch once, twice or three times ...
    rng.shuffle(plan)  # ... interleaved with new data
    with running_collector(tmp_path / "s") as collector:
        lanes = [plan[k::4] for k in range(4)]
        errors = []

        def send(lane):
            for n in lane:
                if post(collector.url, batch(n, spans=50)).status_code != 200:
                    errors.append(n)

        threads = [threading.Thread(target=send, args=(lane,)) for lane in lanes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        body = ApiClient(collector.url).get("spend", by="role")
    assert errors == []
    assert body["total"]["spans"] == 30 * 50
    assert Decimal(body["total"]["cost_usd"]) == expected_cost(range(1, 31), spans=50)
    per_role = {r["role"]: Decimal(r["cost_usd"]) for r in body["rows"]}
    assert per_role == {f"r{k}": expected_cost([n for n in range(1, 31) if n % 3 == k], spans=50) for k in range(3)}
