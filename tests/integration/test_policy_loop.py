"""Issue 18, the loop closed by the collector: published versions, a canary with logged propensities,
and a quality dip on the canary's route -> a paired alert -> automatic rollback -> routers following
the URL send the role to the previous model at their next reload; the spans show the version change
and a webhook says what happened."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import yaml
from click.testing import CliRunner
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from support import http_exporter, running_collector, sdk_provider
from test_dashboard_apptest import open_app
from tierscope.cli import main
from tierscope.collector.alerts.runner import AlertRunner
from tierscope.instrumentation import Router, current_llm_call, instrument, record_quality, set_tier_map
from tierscope.instrumentation import conventions as c
from tierscope.instrumentation._tracing import use_tracer_provider

PRICES = '[[prices]]\nmodel = "acme-small"\ninput_mtok = "1"\noutput_mtok = "0"\n\n' \
         '[[prices]]\nmodel = "acme-big"\ninput_mtok = "10"\noutput_mtok = "0"\n'


class Hooks(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        Hooks.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook():
    Hooks.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", Hooks.received
    server.shutdown()


def test_quality_dip_on_a_canary_route_rolls_it_back_for_every_router(tmp_path, webhook, monkeypatch):
    hook_url, received = webhook
    (tmp_path / "prices.toml").write_text(PRICES)
    (tmp_path / "v1.yaml").write_text(yaml.safe_dump({"routes": {"worker": "acme-big", "critic": "acme-big"}}))
    (tmp_path / "v2.yaml").write_text(yaml.safe_dump({"routes": {"worker": "acme-small", "critic": "acme-big"}}))
    set_tier_map({"acme-small": "small", "acme-big": "frontier"})
    memory = InMemorySpanExporter()
    runner = CliRunner()
    with running_collector(tmp_path / "store", prices_file=tmp_path / "prices.toml", alert_interval_s=0) as collector:
        url = collector.url
        cli = lambda *args: runner.invoke(main, [*args, "--api", url])  # noqa: E731
        first = cli("policy", "publish", str(tmp_path / "v1.yaml"), "--reason", "all on acme-big")
        second = cli("policy", "publish", str(tmp_path / "v2.yaml"), "--canary-share", "0.5", "--reason", "try small")
        served = httpx.get(f"{url}/api/v1/policy")
        unchanged = httpx.get(f"{url}/api/v1/policy", headers={"If-None-Match": served.headers["ETag"]})
        rule = {"rule_id": "worker-small", "role": "worker", "model": "acme-small", "cost_ceiling_usd": "1000",
                "quality_floor": 0.8, "min_samples": 10, "window_seconds": 3600, "webhooks": [hook_url]}
        assert httpx.post(f"{url}/api/v1/alerts/rules", json=rule).status_code == 200

        provider = sdk_provider(http_exporter(collector), batch=False)
        provider.add_span_processor(SimpleSpanProcessor(memory))
        instrument(tracer_provider=provider, sdks=())
        router = Router(policy_url=f"{url}/api/v1/policy", epsilon=0.0, rng=random.Random(5), provider="acme",
                        reload_interval_s=0.0)
        try:
            def answer(model: str) -> str:
                current_llm_call().record_usage(input_tokens=1000, output_tokens=0)
                record_quality(0.0 if model == "acme-small" else 1.0, "judge")  # the small model's answers dip
                return "ok"

            for _ in range(40):
                router.call("worker", answer)
            provider.force_flush()  # exported, then stored: the runner reads the store, not the ingest log
            assert collector.collector.flush(), "acked spans did not reach the store"
            fired = AlertRunner(collector.collector.store).evaluate_once()
            for _ in range(20):  # the first of these reloads: the collector rolls the canary back, then serves v1
                router.call("worker", answer)
        finally:
            provider.shutdown()
            use_tracer_provider(None)
            set_tier_map(None)
        status = cli("policy", "status", "--format", "json")
        status_table = cli("policy", "status")
        monkeypatch.setenv("TIERSCOPE_API", url)
        page = open_app("page_policy.py")

    assert first.exit_code == 0 and "published version 1 (live)" in first.output
    assert second.exit_code == 0 and "published version 2 (canary on 50% of worker)" in second.output
    document = served.json()
    assert document["version"] == "1+canary.2" and unchanged.status_code == 304
    assert {r["role"]: (r["model"], r.get("canary")) for r in document["routes"]} == {
        "worker": ("acme-big", {"model": "acme-small", "share": 0.5, "version": "2"}), "critic": ("acme-big", None)}

    spans = [s for s in memory.get_finished_spans() if s.attributes.get(c.ROLE) == "worker"
             and c.ROUTER_POLICY_VERSION in s.attributes]
    before, after = spans[:40], spans[40:]
    assert {s.attributes[c.ROUTER_POLICY_VERSION] for s in before} == {"1+canary.2"}
    assert {s.attributes[c.REQUEST_MODEL] for s in before} == {"acme-big", "acme-small"}
    assert {s.attributes[c.ROUTER_PROPENSITY] for s in before} == {0.5}  # the canary split, logged exactly
    assert [e["kind"] for e in fired] == ["fired"] and fired[0]["side"] == "quality"
    # Within one reload interval (the next call): every worker call on the previous model, under version 1.
    assert len(after) == 20
    assert {(s.attributes[c.REQUEST_MODEL], s.attributes[c.ROUTER_POLICY_VERSION], s.attributes[c.ROUTER_PROPENSITY])
            for s in after} == {("acme-big", "1", 1.0)}

    said = [h for h in received if h.get("kind") == "policy_rolled_back"]
    assert len(said) == 1 and said[0]["rolled_back"] == 2 and said[0]["live"] == 1
    assert said[0]["rule_id"] == "worker-small" and "worker -> acme-small" in said[0]["text"]
    body = json.loads(status.output)
    assert (body["live"], body["canary"]) == (1, None)
    assert [(v["version"], v["status"]) for v in body["versions"]] == [(2, "rolled_back"), (1, "live")]
    assert body["versions"][0]["status_reason"] == "paired alert worker-small fired on worker -> acme-small"
    assert "rolled_back" in status_table.output and "try small" in status_table.output
    versions = page.dataframe[-1].value
    assert versions["version"].tolist() == [2, 1] and versions["status"].tolist() == ["rolled_back", "live"]
