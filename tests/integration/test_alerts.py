"""Issue 4: paired cost + quality alerts. One-sided rules are refused; each side fires once and
resolves once; a local webhook receiver gets exactly one notification per edge."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from support import running_collector
from tierscope.collector.alerts.runner import AlertRunner
from tierscope.collector.alerts.rules import AlertRule, Observation, RuleError, check, transitions


def test_a_rule_with_one_side_is_refused_with_a_clear_error():
    with pytest.raises(RuleError, match="must arm both sides: it has no a quality side"):
        AlertRule.from_dict({"cost_ceiling_usd": "5"})
    with pytest.raises(RuleError, match="no a cost side"):
        AlertRule.from_dict({"quality_floor": 0.8})
    rule = AlertRule.from_dict({"cost_ceiling_usd": "5", "quality_floor": 0.8, "role": "worker"})
    assert rule.cost_ceiling_usd == Decimal("5") and rule.scope() == {"role": "worker"}


def test_edges_only_and_not_enough_evidence_keeps_state():
    rule = AlertRule.from_dict({"rule_id": "r", "cost_ceiling_usd": "1", "quality_floor": 0.8, "min_samples": 10})
    low_q = Observation(spans=20, cost_usd=Decimal("0.5"), quality_mean=0.5, pass_rate=0.5, quality_n=20)
    few = Observation(spans=3, cost_usd=Decimal("0.5"), quality_mean=0.9, pass_rate=1.0, quality_n=3)
    assert [(t.side, t.kind) for t in transitions(check(rule, low_q), {})] == [("quality", "fired")]
    assert transitions(check(rule, low_q), {"quality": "fired"}) == []
    assert transitions(check(rule, few), {"quality": "fired"}) == []  # n=3 < 10: no verdict
    pct = AlertRule.from_dict({"rule_id": "p", "cost_pct_over_baseline": 50, "quality_floor": 0.1,
                               "window_seconds": 3600, "baseline_seconds": 86400})
    spend = Observation(spans=1, cost_usd=Decimal("1.51"), quality_mean=None, pass_rate=None, quality_n=0,
                        baseline_cost_usd=Decimal("24"))  # $1/hour baseline -> ceiling $1.50
    cost, _ = check(pct, spend)
    assert cost.breached is True and cost.threshold == 1.5


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        Receiver.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _spans(n: int, quality: float, start: datetime, first_id: int) -> bytes:
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for i in range(n):
        t = int((start + timedelta(seconds=i)).timestamp() * 1e9)
        span = ss.spans.add(name="chat", trace_id=(first_id + i).to_bytes(16, "big"), span_id=b"\x01" * 8,
                            start_time_unix_nano=t, end_time_unix_nano=t + 1000)
        for k, v in (("gen_ai.operation.name", AnyValue(string_value="chat")),
                     ("gen_ai.request.model", AnyValue(string_value="gpt-4o-mini")),
                     ("gen_ai.provider.name", AnyValue(string_value="openai")),
                     ("tierscope.role", AnyValue(string_value="worker")),
                     ("gen_ai.usage.input_tokens", AnyValue(int_value=1000)),
                     ("tierscope.quality.score", AnyValue(double_value=quality))):
            span.attributes.append(KeyValue(key=k, value=v))
    return request.SerializeToString()


def test_quality_dip_fires_once_resolves_once_and_the_webhook_gets_exactly_one_each(tmp_path):
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with running_collector(tmp_path / "s", alert_interval_s=0) as collector:
        url = collector.url
        rule = {"rule_id": "worker-q", "role": "worker", "cost_ceiling_usd": "100", "quality_floor": 0.8,
                "min_samples": 20, "window_seconds": 3600, "webhooks": [hook]}
        assert httpx.post(f"{url}/api/v1/alerts/rules", json={"quality_floor": 0.8}).status_code == 400
        assert httpx.post(f"{url}/api/v1/alerts/rules", json=rule).status_code == 200
        runner = AlertRunner(collector.collector.store)  # driven by hand, at chosen times

        def post(body: bytes) -> None:  # acked means in the ingest log; the runner reads the store
            httpx.post(f"{url}/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
            assert collector.collector.flush(), "acked spans did not reach the store"

        t0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
        post(_spans(30, 0.95, t0, 1))
        assert runner.evaluate_once(t0 + timedelta(minutes=30)) == []
        post(_spans(60, 0.3, t0 + timedelta(hours=1), 1000))
        fired = runner.evaluate_once(t0 + timedelta(hours=1, minutes=30))
        again = runner.evaluate_once(t0 + timedelta(hours=1, minutes=31))
        post(_spans(60, 1.0, t0 + timedelta(hours=3), 5000))
        resolved = runner.evaluate_once(t0 + timedelta(hours=3, minutes=30))
        runner.notifier.drain()
        listed = httpx.get(f"{url}/api/v1/alerts").json()
        acked = httpx.post(f"{url}/api/v1/alerts/rules/worker-q/ack", params={"by": "oncall"})
    server.shutdown()
    assert [(e["side"], e["kind"]) for e in fired] == [("quality", "fired")]
    assert again == []
    assert [(e["side"], e["kind"]) for e in resolved] == [("quality", "resolved")]
    assert [(m["side"], m["kind"]) for m in Receiver.received] == [("quality", "fired"), ("quality", "resolved")]
    assert Receiver.received[0]["observed"] == pytest.approx(0.3) and Receiver.received[0]["threshold"] == 0.8
    assert listed["rules"][0]["state"] == {"cost": "ok", "quality": "ok"}
    assert [e["kind"] for e in listed["events"]] == ["resolved", "fired"]
    assert acked.status_code == 200
