"""Issue 4 end to end: the recommender learns from stored spans; a quality alert on (role, model)
demotes that arm and the recommendation changes, visible through the API and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from support import running_collector
from tierscope import clock
from tierscope.cli import main
from tierscope.collector.alerts.runner import AlertRunner


def _batch(model: str, quality: float, n: int, start: datetime, first: int) -> bytes:
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for i in range(n):
        t = int((start + timedelta(seconds=i)).timestamp() * 1e9)
        span = ss.spans.add(name="chat", trace_id=(first + i).to_bytes(16, "big"), span_id=b"\x02" * 8,
                            start_time_unix_nano=t, end_time_unix_nano=t + 1000)
        for k, v in (("gen_ai.operation.name", AnyValue(string_value="chat")),
                     ("gen_ai.request.model", AnyValue(string_value=model)),
                     ("gen_ai.provider.name", AnyValue(string_value="openai")),
                     ("tierscope.role", AnyValue(string_value="worker")),
                     ("gen_ai.usage.input_tokens", AnyValue(int_value=2000)),
                     ("gen_ai.usage.output_tokens", AnyValue(int_value=300)),
                     ("tierscope.quality.score", AnyValue(double_value=quality))):
            span.attributes.append(KeyValue(key=k, value=v))
    return request.SerializeToString()


NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_quality_alert_demotes_the_arm_and_changes_the_recommendation(tmp_path, monkeypatch):
    now = NOW
    monkeypatch.setenv(clock.ENV, NOW.isoformat())  # the recommend and alert windows end at NOW
    with running_collector(tmp_path / "s", alert_interval_s=0) as collector:
        url = collector.url
        post = lambda body: httpx.post(f"{url}/v1/traces", content=body,  # noqa: E731
                                       headers={"content-type": "application/x-protobuf"}).status_code
        assert post(_batch("gpt-4o", 1.0, 300, now - timedelta(days=3), 1)) == 200
        assert post(_batch("gpt-4o-mini", 1.0, 300, now - timedelta(days=3, hours=2), 10_000)) == 200
        before = httpx.get(f"{url}/api/v1/recommend").json()
        route = {r["role"]: r for r in before["routes"]}["worker"]
        assert (route["model"], route["tier"]) == ("gpt-4o-mini", "small")
        # Recent calls on the small model go bad; a paired rule watches exactly that arm.
        assert post(_batch("gpt-4o-mini", 0.0, 40, now - timedelta(minutes=20), 50_000)) == 200
        rule = {"rule_id": "worker-mini", "role": "worker", "model": "gpt-4o-mini", "cost_ceiling_usd": "1000",
                "quality_floor": 0.8, "min_samples": 20, "window_seconds": 3600}
        assert httpx.post(f"{url}/api/v1/alerts/rules", json=rule).status_code == 200
        fired = AlertRunner(collector.collector.store).evaluate_once()
        after = httpx.get(f"{url}/api/v1/recommend").json()
        cli = CliRunner().invoke(main, ["recommend", "--format", "json", "--api", url])
        listed = CliRunner().invoke(main, ["alerts", "list", "--api", url])
    assert [(e["side"], e["kind"]) for e in fired] == [("quality", "fired")]
    assert after["demoted"] == [["worker", "gpt-4o-mini"]]
    assert {r["role"]: r["model"] for r in after["routes"]}["worker"] == "gpt-4o"
    assert cli.exit_code == 0 and json.loads(cli.output)["demoted"] == [["worker", "gpt-4o-mini"]]
    assert listed.exit_code == 0 and "fired" in listed.output
