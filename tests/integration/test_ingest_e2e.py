"""Issue 2 acceptance: two real OTel SDK apps (OTLP/HTTP and OTLP/gRPC) send 10,000 LLM spans;
`tierscope spend --by role --format json` reports exactly 10,000 spans and, per role, the sum of
genai-prices' calc_price for those spans, to the last decimal."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from genai_prices import Usage, calc_price

from support import grpc_exporter, http_exporter, running_collector, sdk_provider
from tierscope.cli import main

MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("o3", "openai"),
          ("claude-sonnet-4-5", "anthropic"), ("claude-3-5-haiku-latest", "anthropic"),
          ("gemini-2.5-pro", "google")]
ROLES = ["planner", "worker", "formatter", "critic"]


def _spans(seed: int, count: int):
    rng = random.Random(seed)
    base = datetime(2026, 11, 20, tzinfo=UTC)
    for _ in range(count):
        model, provider = rng.choice(MODELS)
        input_tokens = rng.choice([rng.randint(1, 4000), rng.randint(150_000, 260_000)])
        cache_read = rng.randint(0, input_tokens // 2)
        cache_write = rng.randint(0, (input_tokens - cache_read) // 4) if provider == "anthropic" else 0
        output_tokens = rng.randint(1, 3000)
        reasoning = rng.randint(0, output_tokens) if model == "o3" else 0
        start = base + timedelta(seconds=rng.randint(0, 2 * 86400), microseconds=rng.randint(0, 999_999))
        yield {
            "role": rng.choice(ROLES), "model": model, "provider": provider, "start": start,
            "input": input_tokens, "output": output_tokens, "cache_read": cache_read,
            "cache_write": cache_write, "reasoning": reasoning,
        }


def _send(provider, spans) -> None:
    tracer = provider.get_tracer("agent-app")
    for s in spans:
        start_ns = int(s["start"].timestamp() * 1e9)
        span = tracer.start_span(f"chat {s['model']}", start_time=start_ns, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": s["provider"],
            "gen_ai.request.model": s["model"], "gen_ai.usage.input_tokens": s["input"],
            "gen_ai.usage.output_tokens": s["output"],
            "gen_ai.usage.cache_read.input_tokens": s["cache_read"],
            "gen_ai.usage.cache_creation.input_tokens": s["cache_write"],
            "gen_ai.usage.reasoning.output_tokens": s["reasoning"], "tierscope.role": s["role"],
        })
        span.end(end_time=start_ns + 1_000_000)
    assert provider.force_flush(60_000)
    provider.shutdown()


def _expected(spans) -> dict[str, dict]:
    out: dict[str, dict] = defaultdict(lambda: {"spans": 0, "cost": Decimal(0)})
    for s in spans:
        price = calc_price(
            Usage(input_tokens=s["input"], output_tokens=s["output"], cache_read_tokens=s["cache_read"],
                  cache_write_tokens=s["cache_write"]),
            model_ref=s["model"], provider_id=s["provider"], genai_request_timestamp=s["start"])
        out[s["role"]]["spans"] += 1
        out[s["role"]]["cost"] += price.total_price
    return out


@pytest.mark.slow
def test_ten_thousand_spans_over_http_and_grpc_priced_to_the_last_decimal(tmp_path):
    over_http = list(_spans(1, 6_000))
    over_grpc = list(_spans(2, 4_000))
    with running_collector(tmp_path / "store") as collector:
        _send(sdk_provider(http_exporter(collector), service="app-http"), over_http)
        _send(sdk_provider(grpc_exporter(collector), service="app-grpc"), over_grpc)
        result = CliRunner().invoke(main, ["spend", "--by", "role", "--format", "json", "--api", collector.url])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    expected = _expected(over_http + over_grpc)
    assert body["total"]["spans"] == 10_000
    assert body["total"]["unpriced_spans"] == 0
    got = {row["role"]: row for row in body["rows"]}
    assert set(got) == set(ROLES)
    for role in ROLES:
        assert got[role]["spans"] == expected[role]["spans"]
        assert Decimal(got[role]["cost_usd"]) == expected[role]["cost"], role
    assert Decimal(body["total"]["cost_usd"]) == sum(e["cost"] for e in expected.values())
