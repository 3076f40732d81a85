"""The demo's agent fleet: planner, worker, formatter and critic roles on several model tiers.

Everything travels the way a user's spans would: the real openai and anthropic SDKs (pointed at a
local fake provider), our shims, the OpenTelemetry SDK and its OTLP exporter, to the collector.
Six weeks of history are sent first (with explicit span times), then live traffic. Built in, so
every page has something to show: a few frontier calls from the formatter (misrouted), a quality
dip on the worker role in the last day, two unpriced models, late user feedback, a latency-tolerant
critic (deadline async: the batch saving shows), and router retries in the history: worker calls
escalated one tier up after a failed check, and calls failed over after a provider's 429.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from opentelemetry import trace

from tierscope import clock
from tierscope.demo.fake_provider import fake_headers, start_fake_provider
from tierscope.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    role: str
    team: str
    model: str
    provider: str
    weight: float  # relative frequency among steps
    input: tuple[int, int]
    output: tuple[int, int]
    quality: float  # mean 0/1 quality
    cache_share: float = 0.0
    deadline: str | None = None  # "async": latency-tolerant work


# One agent task = a planner step, worker steps, a formatter step and a critic step.
FLEET = (
    Step("planner", "search", "claude-sonnet-4-5", "anthropic", 1.0, (2_000, 9_000), (300, 1_200), 0.93, 0.6),
    Step("planner", "support", "gpt-4o", "openai", 0.8, (1_500, 6_000), (200, 900), 0.91, 0.5),
    Step("worker", "search", "claude-3-5-haiku-latest", "anthropic", 2.5, (3_000, 20_000), (200, 1_500), 0.88, 0.7),
    Step("worker", "support", "gpt-4o-mini", "openai", 2.0, (1_000, 8_000), (100, 800), 0.86, 0.3),
    Step("worker", "support", "acme-llama-3-70b-ft", "vllm", 0.6, (1_000, 6_000), (100, 700), 0.84),
    Step("formatter", "search", "gpt-4o-mini", "openai", 1.2, (500, 3_000), (100, 600), 0.97),
    Step("formatter", "support", "gpt-4o", "openai", 0.25, (500, 3_000), (100, 600), 0.98),  # misrouted
    Step("critic", "search", "gpt-4o", "openai", 0.7, (2_000, 7_000), (50, 300), 0.9, 0.4, "async"),
    Step("critic", "support", "mystery-model-x", "openai", 0.15, (1_000, 4_000), (50, 200), 0.8),
)
DIP_ROLE, DIP_QUALITY = "worker", 0.45
# Router retries in the history: (role, model it retried from, model retried on, share of that step's
# calls, kind). An escalation follows a failed check; a failover follows a 429 from the provider.
RETRIES = (
    ("worker", "gpt-4o-mini", "gpt-4o", 0.04, "escalation"),
    ("worker", "claude-3-5-haiku-latest", "claude-sonnet-4-5", 0.02, "failover"),
)


def _tokens(step: Step, rng: random.Random) -> dict[str, int]:
    input_tokens = rng.randint(*step.input)
    cache_read = int(input_tokens * step.cache_share * rng.random())
    output = rng.randint(*step.output)
    return {"input": input_tokens, "output": output, "cache_read": cache_read,
            "reasoning": output // 3 if step.model.startswith("o") else 0}


def _quality(step: Step, rng: random.Random, dip: bool) -> float:
    mean = DIP_QUALITY if dip and step.role == DIP_ROLE else step.quality
    return 1.0 if rng.random() < mean else 0.0


def send_history(days: int, spans_per_day: int, rng: random.Random, now: datetime) -> int:
    """Weeks of past agent traffic, with explicit start times, through the SDK and OTLP exporter."""
    from tierscope.instrumentation import conventions as c
    from tierscope.instrumentation import role

    tracer = trace.get_tracer("tierscope.demo")
    weights = [s.weight for s in FLEET]
    sent = flushed = 0
    for day in range(days, 0, -1):
        growth = 1 + (days - day) / days  # spend grows over the period
        for _ in range(int(spans_per_day * growth)):
            step = rng.choices(FLEET, weights)[0]
            start = now - timedelta(days=day, seconds=rng.randint(0, 86_399))
            t = _tokens(step, rng)
            start_ns = int(start.timestamp() * 1e9)
            with role(step.role, team=step.team, feature="answer", deadline=step.deadline):
                end_ns = start_ns + rng.randint(200, 9_000) * 1_000_000
                retry = next((r for r in RETRIES if (r[0], r[1]) == (step.role, step.model) and rng.random() < r[3]), None)
                attributes = {c.OPERATION_NAME: "chat", c.PROVIDER_NAME: step.provider, c.REQUEST_MODEL: step.model,
                              c.USAGE_INPUT_TOKENS: t["input"], c.USAGE_OUTPUT_TOKENS: t["output"],
                              c.USAGE_CACHE_READ_INPUT_TOKENS: t["cache_read"]}
                if retry and retry[4] == "failover":  # the provider answered 429: nothing billed
                    attributes = {**attributes, c.USAGE_INPUT_TOKENS: 0, c.USAGE_OUTPUT_TOKENS: 0,
                                  c.USAGE_CACHE_READ_INPUT_TOKENS: 0, c.ERROR_TYPE: "RateLimitError"}
                else:
                    attributes.update({c.QUALITY_SCORE: _quality(step, rng, dip=day <= 1), c.QUALITY_SOURCE: "eval"})
                span = tracer.start_span(f"chat {step.model}", start_time=start_ns, kind=trace.SpanKind.CLIENT,
                                         attributes=attributes)
                if retry and retry[4] == "failover":
                    span.set_status(trace.Status(trace.StatusCode.ERROR, "429"))
                span.end(end_time=end_ns)
                if retry:
                    first_id = format(span.get_span_context().span_id, "016x")
                    marks = ({c.ROUTER_ESCALATED_FROM: step.model, c.ROUTER_ESCALATION_OF: first_id}
                             if retry[4] == "escalation" else
                             {c.ROUTER_FAILOVER_FROM: step.model, c.ROUTER_FAILOVER_REASON: "rate_limited",
                              c.ROUTER_FAILOVER_OF: first_id})
                    again = tracer.start_span(f"chat {retry[2]}", start_time=end_ns, kind=trace.SpanKind.CLIENT,
                                              attributes={c.OPERATION_NAME: "chat", c.PROVIDER_NAME: step.provider,
                                                          c.REQUEST_MODEL: retry[2], **marks,
                                                          c.USAGE_INPUT_TOKENS: t["input"],
                                                          c.USAGE_OUTPUT_TOKENS: t["output"],
                                                          c.QUALITY_SCORE: 1.0, c.QUALITY_SOURCE: "eval"})
                    again.end(end_time=end_ns + rng.randint(400, 12_000) * 1_000_000)
                    sent += 1
            sent += 1
            if sent - flushed >= 1_000:  # stay inside the exporter's queue (2,048 spans) instead of dropping
                trace.get_tracer_provider().force_flush()
                flushed = sent
    return sent


def run_task(clients: dict, rng: random.Random) -> None:
    """One live agent task through the real SDKs and our shims."""
    from tierscope.instrumentation import llm_call, record_quality, role

    weights = [s.weight for s in FLEET]
    for _ in range(rng.randint(3, 6)):
        step = rng.choices(FLEET, weights)[0]
        t = _tokens(step, rng)
        headers = fake_headers(input=t["input"], output=t["output"], cache_read=t["cache_read"])
        messages = [{"role": "user", "content": "demo"}]
        with role(step.role, team=step.team, feature="answer", deadline=step.deadline):
            if step.provider in ("anthropic", "openai"):
                # The shimmed SDK call joins this llm_call() span, so the agent can grade it.
                with llm_call(model=step.model, provider=step.provider) as graded:
                    if step.provider == "anthropic":
                        clients["anthropic"].messages.create(model=step.model, max_tokens=512, messages=messages,
                                                             extra_headers=headers)
                    else:
                        clients["openai"].chat.completions.create(model=step.model, messages=messages,
                                                                  extra_headers=headers)
                    graded.record_quality(_quality(step, rng, dip=True), "eval")
            else:  # a self-hosted model behind a plain HTTP client: the llm_call() path
                with llm_call(model=step.model, provider=step.provider) as call:
                    reply = clients["http"].post("/v1/chat/completions", headers=headers,
                                                 json={"model": step.model, "messages": messages}).json()
                    call.record_usage(input_tokens=reply["usage"]["prompt_tokens"],
                                      output_tokens=reply["usage"]["completion_tokens"])
                # A user rates the answer afterwards: late quality, keyed by the span's ids.
                record_quality(_quality(step, rng, dip=True), "user_feedback",
                               trace_id=call.trace_id, span_id=call.span_id)


DEMO_RULES = (
    # The worker's quality dip on its main model: fires, and demotes that model in the recommendation.
    {"rule_id": "demo-worker-haiku", "name": "worker on haiku: spend and quality", "role": DIP_ROLE,
     "model": "claude-3-5-haiku-latest", "cost_ceiling_usd": "50", "quality_floor": 0.8, "min_samples": 10,
     "window_seconds": 3600},
    {"rule_id": "demo-planner", "name": "planner spend vs last week", "role": "planner",
     "cost_pct_over_baseline": 50, "quality_floor": 0.85, "min_samples": 20, "window_seconds": 3600},
)


def arm_demo_alerts(api_url: str, settings: Settings) -> None:
    """Arm the demo's paired rules through the API, as a user would with `tierscope alerts arm`."""
    import httpx

    headers = {"authorization": f"Bearer {settings.token}"} if settings.token else None
    for rule in DEMO_RULES:
        try:
            httpx.post(f"{api_url}/api/v1/alerts/rules", json=rule, headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            log.warning("demo: could not arm %s: %s", rule["rule_id"], exc)


def run_workload(api_url: str, settings: Settings, stop: threading.Event, *, days: int = 45,
                 spans_per_day: int = 400, seed: int = 7) -> None:
    """History first, then about one live task a second until `stop` is set."""
    import anthropic
    import httpx
    import openai

    from tierscope.instrumentation import configure, instrument

    rng = random.Random(seed)
    provider = configure(service_name="demo-agents", endpoint=api_url, protocol="http/protobuf",
                         resource_attributes={"deployment.environment.name": "demo"})
    instrument()
    with start_fake_provider() as fake:
        sent = send_history(days, spans_per_day, rng, clock.now())
        provider.force_flush()
        log.info("demo: sent %d historical spans", sent)
        arm_demo_alerts(api_url, settings)
        clients = {"openai": openai.OpenAI(base_url=f"{fake.url}/v1", api_key="demo", max_retries=0),
                   "anthropic": anthropic.Anthropic(base_url=fake.url, api_key="demo", max_retries=0),
                   "http": httpx.Client(base_url=fake.url)}
        while not stop.is_set():
            try:
                run_task(clients, rng)
            except Exception as exc:  # keep the demo alive; say what went wrong
                log.warning("demo task failed: %s", exc)
            provider.force_flush()
            stop.wait(1.0)
    provider.shutdown()
