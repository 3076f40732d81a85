"""The README's Python snippets run as written, against a real collector and the fake LLM provider.

Every ```python block of README.md is run, in order, as one program in a child process (the snippets
set OpenTelemetry's global tracer provider and patch the SDKs, which must not leak into this test
process). The environment points them where a user's would point: OTEL_EXPORTER_OTLP_ENDPOINT at
the collector, OPENAI_BASE_URL at the fake provider. The spans they send must then be in the store,
with the roles, models, tiers and token counts the snippets say.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import running_collector

from tierscope.client import ApiClient
from tierscope.demo.fake_provider import REPLY_HEADER, start_fake_provider

README = Path(__file__).resolve().parents[2] / "README.md"
# The router's check is json.loads: the fake provider answers JSON for the snippets that use it.
JSON_CLIENT = f'client = OpenAI(default_headers={{"{REPLY_HEADER}": \'{{"ok": true}}\'}})\n'
POLICY = "version: 3\nroutes: {formatter: gpt-4o-mini}\n"


def snippets() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.DOTALL | re.MULTILINE)


def program() -> str:
    blocks = snippets()
    assert len(blocks) >= 3, "the README shows instrumenting, llm_call and the Router"
    parts = [JSON_CLIENT + block if "Router(" in block else block for block in blocks]
    return "\n".join(parts) + "\nprovider.force_flush()\n"


@pytest.fixture(scope="module")
def sent(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("readme")
    (home / "routing-policy.recommended.yaml").write_text(POLICY)
    (home / "snippets.py").write_text(program())
    with running_collector(home / "store") as collector, start_fake_provider() as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TIERSCOPE_"))}
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OPENAI_BASE_URL=f"{fake.url}/v1", OPENAI_API_KEY="x")
        run = subprocess.run([sys.executable, "snippets.py"], cwd=home, env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
        api = ApiClient(collector.url)
        try:
            yield {"spend": api.get("spend", by="role,tier,model"), "requests": list(fake.requests)}
        finally:
            api.close()


def test_every_snippet_call_is_stored_with_its_role_tier_and_model(sent):
    rows = {(r["role"], r["tier"], r["model"]): r for r in sent["spend"]["rows"]}
    assert sorted((key, row["spans"]) for key, row in rows.items()) == [
        (("formatter", "small", "gpt-4o-mini"), 2),  # router.pick() and router.call()
        (("planner", "frontier", "gpt-4o"), 1),
        (("worker", "local", "llama3.1:8b"), 1),
    ]
    assert [r.path for r in sent["requests"]] == ["/v1/chat/completions"] * 3


def test_llm_call_snippet_records_its_tokens_and_quality(sent):
    worker = next(r for r in sent["spend"]["rows"] if r["role"] == "worker")
    assert (worker["input_tokens"], worker["output_tokens"]) == (812, 64)
    assert worker["unpriced_spans"] == 1  # a self-hosted model has no list price: unpriced, not $0
    # Graded twice: 0.9 on the span, then 1.0 as late user feedback, which supersedes it.
    assert (worker["quality_n"], worker["quality_mean"]) == (1, 1.0)
