"""Issue 4 end to end: the recommender learns from stored spans; a quality alert on (role, model)
demotes that arm and the recommendation changes, visible through the API and the CLI. Issue 19: a
role's latency SLO in the routing policy file takes the model whose stored p95 breaks it out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from support import running_collector
from tierscope import clock
from tierscope.cli import main
from tierscope.collector.alerts.runner import AlertRunner


def _batch(model: str, quality: float, n: int, start: datetime, first: int, *, role: str = "worker",
           durations_ms: Sequence[int] = ()) -> bytes:
    """`n` chat spans a second apart from `start`; span i lasts durations_ms[i] milliseconds (0: ends
    as it starts, no duration), or one microsecond without `durations_ms`."""
    assert not durations_ms or len(durations_ms) == n
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for i in range(n):
        t = int((start + timedelta(seconds=i)).timestamp() * 1e9)
        duration = durations_ms[i] * 1_000_000 if durations_ms else 1000
        span = ss.spans.add(name="chat", trace_id=(first + i).to_bytes(16, "big"), span_id=b"\x02" * 8,
                            start_time_unix_nano=t, end_time_unix_nano=t + duration)
        for k, v in (("gen_ai.operation.name", AnyValue(string_value="chat")),
                     ("gen_ai.request.model", AnyValue(string_value=model)),
                     ("gen_ai.provider.name", AnyValue(string_value="openai")),
                     ("tierscope.role", AnyValue(string_value=role)),
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


def test_the_cheapest_model_over_a_latency_slo_gives_way_to_the_next(tmp_path, monkeypatch):
    """worker: gpt-4.1-nano is the cheapest model that holds quality, but its p95 breaks the role's
    2,500 ms SLO: gpt-4o-mini, the next, is recommended, with the reason. critic is pinned to gpt-4o,
    whose p95 breaks critic's SLO: kept, and flagged."""
    monkeypatch.setenv(clock.ENV, NOW.isoformat())
    policy_file = tmp_path / "routing-policy.yaml"
    policy_file.write_text("roles:\n  critic: {pinned_model: gpt-4o, latency_p95_ms: 3000}\n")
    day = NOW - timedelta(days=2)
    # Nearest-rank percentiles of 60 timed calls: p50 is the 30th shortest, p95 the 57th.
    mini = [500 + 30 * i for i in range(60)] + [0] * 5  # p50 1,370, p95 2,180; 5 spans without a duration
    nano = [900 + 50 * i for i in range(60)]  # p50 2,350, p95 3,700
    with running_collector(tmp_path / "s", policy_file=str(policy_file), alert_interval_s=0) as collector:
        url = collector.url
        post = lambda body: httpx.post(f"{url}/v1/traces", content=body,  # noqa: E731
                                       headers={"content-type": "application/x-protobuf"}).status_code
        assert post(_batch("gpt-4o", 1.0, 120, day, 1, durations_ms=[1200] * 120)) == 200
        assert post(_batch("gpt-4.1-nano", 1.0, 60, day + timedelta(hours=1), 1_000, durations_ms=nano)) == 200
        assert post(_batch("gpt-4o-mini", 1.0, 65, day + timedelta(hours=2), 2_000, durations_ms=mini)) == 200
        assert post(_batch("gpt-4o", 1.0, 40, day, 3_000, role="critic", durations_ms=[4000] * 40)) == 200
        without = httpx.get(f"{url}/api/v1/recommend").json()
        policy_file.write_text("roles:\n  critic: {pinned_model: gpt-4o, latency_p95_ms: 3000}\n"
                               "  worker: {latency_p95_ms: 2500}\n")
        body = httpx.get(f"{url}/api/v1/recommend").json()
        cli = CliRunner().invoke(main, ["recommend", "--format", "json", "--api", url])
    assert {r["role"]: r["model"] for r in without["routes"]} == {"worker": "gpt-4.1-nano", "critic": "gpt-4o"}
    routes = {r["role"]: r for r in body["routes"]}
    worker, critic = routes["worker"], routes["critic"]
    assert (worker["model"], worker["current_model"]) == ("gpt-4o-mini", "gpt-4o")
    assert worker["reason"] == ("meets floors and target for less; "
                                "excluded for latency: gpt-4.1-nano p95 3,700 ms > SLO 2,500 ms")
    assert worker["latency"] == {
        "slo_p95_ms": 2500.0, "p50_ms": 1370, "p95_ms": 2180, "timed_calls": 60, "breaks_slo": False,
        "current_p95_ms": 1200, "current_breaks_slo": False,
        "excluded": [{"model": "gpt-4.1-nano", "reason": "gpt-4.1-nano p95 3,700 ms > SLO 2,500 ms"}]}
    assert (critic["model"], critic["pinned"], critic["latency"]["breaks_slo"]) == ("gpt-4o", True, True)
    assert critic["reason"] == "compliance pin; kept over the latency SLO (pinned): gpt-4o p95 4,000 ms > SLO 3,000 ms"
    assert [(a["role"], a["model"], a["timed_calls"], a["p50_ms"], a["p95_ms"], a["slo_state"])
            for a in body["arm_latency"]] == [
        ("critic", "gpt-4o", 40, 4000, 4000, "broken"),
        ("worker", "gpt-4.1-nano", 60, 2350, 3700, "broken"),
        ("worker", "gpt-4o", 120, 1200, 1200, "met"),
        ("worker", "gpt-4o-mini", 60, 1370, 2180, "met")]
    assert cli.exit_code == 0, cli.output
    assert {r["role"]: r["latency"]["p95_ms"] for r in json.loads(cli.output)["routes"]} == {"worker": 2180, "critic": 4000}


def test_a_roles_floor_in_the_policy_file_binds_the_recommendation(tmp_path, monkeypatch):
    """gpt-4o-mini keeps 0.9 of gpt-4o's quality: enough for a 0.85 target, recommended; a policy
    file floor of 0.95 on the worker role keeps it off."""
    monkeypatch.setenv(clock.ENV, NOW.isoformat())
    policy_file = tmp_path / "routing-policy.yaml"
    policy_file.write_text("version: 1\n")
    with running_collector(tmp_path / "s", policy_file=str(policy_file), alert_interval_s=0) as collector:
        post = lambda body: httpx.post(f"{collector.url}/v1/traces", content=body,  # noqa: E731
                                       headers={"content-type": "application/x-protobuf"}).status_code
        assert post(_batch("gpt-4o", 1.0, 300, NOW - timedelta(days=3), 1)) == 200
        assert post(_batch("gpt-4o-mini", 0.9, 300, NOW - timedelta(days=3, hours=2), 10_000)) == 200
        target = {"quality_target": "0.85"}
        free = httpx.get(f"{collector.url}/api/v1/recommend", params=target).json()
        policy_file.write_text("version: 2\nroles:\n  worker: {quality_floor: 0.95}\n")
        floored = httpx.get(f"{collector.url}/api/v1/recommend", params=target).json()
    assert {r["role"]: r["model"] for r in free["routes"]} == {"worker": "gpt-4o-mini"}
    assert {r["role"]: r["model"] for r in floored["routes"]} == {"worker": "gpt-4o"}
