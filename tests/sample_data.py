"""A fixed, deterministic agent workload sent through real OTLP: the dashboard tests' data set.

(`tierscope demo` runs the live demo fleet; this is its small, dated, reproducible sibling, so tests
and screenshots can compare exact numbers.) Traces of planner -> worker(s) -> formatter -> critic calls over September to November 2026, across
two teams, services and environments, with quality grades, one unpriced in-house model, and a few
calls that break `SAMPLE_POLICY` (the router on frontier) or that a proven cheaper tier could serve
(formatter on gpt-4o, whose gpt-4o-mini calls score well).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

SAMPLE_POLICY = """\
version: 7
quality_floor: 0.8
roles:
  router: {allowed_tiers: [small, mid]}
  critic: {pinned_model: gpt-4o}
"""
START = datetime(2026, 9, 1, tzinfo=UTC)
END = datetime(2026, 11, 20, tzinfo=UTC)
_PROVIDERS = {"gpt": "openai", "o3": "openai", "claude": "anthropic", "in-house": "acme"}


@dataclass(frozen=True)
class Call:
    role: str
    model: str
    input_tokens: int
    output_tokens: int
    quality: float | None = None

    @property
    def provider(self) -> str:
        return next(p for prefix, p in _PROVIDERS.items() if self.model.startswith(prefix))


@dataclass(frozen=True)
class Trace:
    start_ns: int
    team: str
    service: str
    environment: str
    calls: list[Call] = field(default_factory=list)


def sample_traces(rng: np.random.Generator, n: int = 120) -> list[Trace]:
    """`n` agent runs at random times between START and END; pure, deterministic for a seeded rng."""
    low, high = int(START.timestamp()), int(END.timestamp())
    traces = []
    for _ in range(n):
        def tokens(mean: int) -> int:
            return int(rng.integers(mean // 2, mean * 2))

        def grade(mean: float) -> float | None:
            return round(float(np.clip(rng.normal(mean, 0.04), 0, 1)), 3) if rng.random() < 0.7 else None

        calls = [Call("planner", "gpt-4o" if rng.random() < 0.8 else "claude-sonnet-4-5", tokens(3000), tokens(600), grade(0.9))]
        for _ in range(int(rng.integers(1, 4))):
            model = ["o3-mini", "gpt-4o-mini", "in-house-llm"][int(rng.integers(3))]
            calls.append(Call("worker", model, tokens(2000), tokens(400), grade(0.85)))
        formatter = "gpt-4o" if rng.random() < 0.3 else "gpt-4o-mini"
        calls.append(Call("formatter", formatter, tokens(800), tokens(300), grade(0.95)))
        calls.append(Call("critic", "gpt-4o", tokens(1500), tokens(200), grade(0.9)))
        if rng.random() < 0.2:
            calls.append(Call("router", "claude-sonnet-4-5", tokens(500), tokens(50)))
        team = "core" if rng.random() < 0.6 else "growth"
        traces.append(Trace(int(rng.integers(low, high)) * 1_000_000_000, team,
                            "agents" if team == "core" else "search", "prod" if rng.random() < 0.85 else "staging",
                            calls))
    return traces


def send(url: str, traces: list[Trace]) -> int:
    """Export the traces to a collector with the OpenTelemetry SDK over OTLP/HTTP; returns calls sent."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    sent = 0
    for (service, environment) in sorted({(t.service, t.environment) for t in traces}):
        provider = TracerProvider(resource=Resource.create({"service.name": service,
                                                            "deployment.environment.name": environment}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url.rstrip('/')}/v1/traces"),
                                                       max_queue_size=100_000))
        tracer = provider.get_tracer("tierscope.sample_data")
        for t in (t for t in traces if (t.service, t.environment) == (service, environment)):
            root = tracer.start_span("invoke_agent", start_time=t.start_ns, attributes={"gen_ai.operation.name": "invoke_agent"})
            context = trace.set_span_in_context(root)
            at = t.start_ns
            for call in t.calls:
                attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": call.provider,
                              "gen_ai.request.model": call.model, "gen_ai.usage.input_tokens": call.input_tokens,
                              "gen_ai.usage.output_tokens": call.output_tokens, "tierscope.role": call.role,
                              "tierscope.team": t.team}
                if call.quality is not None:
                    attributes["tierscope.quality.score"] = call.quality
                span = tracer.start_span(f"chat {call.model}", context=context, start_time=at, attributes=attributes)
                at += 1_000_000 * (200 + call.output_tokens)
                span.end(end_time=at)
                sent += 1
            root.end(end_time=at)
        provider.force_flush(60_000)
        provider.shutdown()
    return sent

