"""`tierscope status`: health, the ingest log's backlog and what the feeder stored, from a real collector."""

from __future__ import annotations

import json

from click.testing import CliRunner

from support import free_port, http_exporter, running_collector, sdk_provider
from tierscope.cli import main


def test_status_reports_health_backlog_and_stored_spans(tmp_path):
    with running_collector(tmp_path / "s", alert_interval_s=0, rollup_interval_s=0) as collector:
        provider = sdk_provider(http_exporter(collector))
        tracer = provider.get_tracer("t")
        for i in range(25):
            tracer.start_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 100 + i, "gen_ai.usage.output_tokens": 10,
                "tierscope.role": "worker"}).end()
        assert provider.force_flush(30_000)
        provider.shutdown()
        runner = CliRunner()
        text = runner.invoke(main, ["status", "--api", collector.url])
        as_json = runner.invoke(main, ["status", "--api", collector.url, "--format", "json"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith("ok: ingest log ") and "25 spans stored, 0 rejected" in text.output
    body = json.loads(as_json.output)
    assert body["health"]["status"] == "ok" and body["stats"]["spans_written"] == 25
    assert {"log_bytes", "log_records", "log_oldest_age_s", "feeder_spans_per_s"} <= set(body["stats"])


def test_status_without_a_collector_says_so_in_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["status", "--api", url])
    assert result.exit_code == 1 and f"cannot reach the collector at {url}" in result.output
    assert "Traceback" not in result.output
