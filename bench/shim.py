"""Section 5: what tierscope's instrumentation adds to one LLM call, in microseconds.

Run as its own process (`python bench/shim.py` prints JSON) so SDK patches never leak. Spans go
to a TracerProvider with a no-op exporter behind a SimpleSpanProcessor, so export is not counted.

* `llm_call()` + `record_usage()` (tierscope's span, role processor included) vs a bare OTel SDK
  span carrying the same GenAI attributes: pure instrumentation cost, no I/O.
* the openai SDK answered by the fake provider (`start_fake_provider()`'s reply to the request,
  replayed by an in-process transport): uninstrumented, with tierscope's `instrument()`, and with
  OpenLLMetry's `opentelemetry-instrumentation-openai`; the three are interleaved batch by batch so
  drift cancels, and each figure is the median over batches of the added time per call.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind


class NoopExporter(SpanExporter):
    def export(self, spans):  # noqa: ANN001 - SDK signature
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _provider(with_roles: bool) -> TracerProvider:
    provider = TracerProvider()
    if with_roles:
        from tierscope.instrumentation import RoleSpanProcessor

        provider.add_span_processor(RoleSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(NoopExporter()))
    return provider


def _per_call_us(fn: Callable[[], None], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def span_overhead(calls: int = 20_000, rounds: int = 7) -> dict[str, float]:
    """Median µs per call: a bare span with GenAI attributes vs llm_call() + record_usage()."""
    from tierscope.instrumentation import instrument, llm_call, role, uninstrument

    bare_tracer = _provider(False).get_tracer("bench")
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                  "tierscope.role": "planner", "tierscope.tier": "frontier"}

    def bare() -> None:
        with bare_tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=attributes) as span:
            span.set_attribute("gen_ai.usage.input_tokens", 1200)
            span.set_attribute("gen_ai.usage.output_tokens", 300)

    instrument(tracer_provider=_provider(True), sdks=())

    def ours() -> None:
        with llm_call(model="gpt-4o", provider="openai") as call:
            call.record_usage(input_tokens=1200, output_tokens=300)

    bare_us, ours_us = [], []
    with role("planner"):
        for _ in range(rounds):
            bare_us.append(_per_call_us(bare, calls))
            ours_us.append(_per_call_us(ours, calls))
    uninstrument()
    b, o = statistics.median(bare_us), statistics.median(ours_us)
    return {"bare_span_us": b, "llm_call_us": o, "added_us": o - b}


def _replayed_fake_provider_client():  # -> openai.OpenAI
    """An openai client whose transport replays the fake provider's answer to this very request:
    the same bytes `start_fake_provider()` sends, without the loopback round trip (~1-10 ms of
    scheduling noise here, which would drown the microseconds being measured)."""
    import httpx
    import openai

    from tierscope.demo.fake_provider import FakeUsage, start_fake_provider

    with start_fake_provider(default_usage=FakeUsage(input=1200, output=300)) as fake:
        real = httpx.post(f"{fake.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES}, timeout=30)
    status, headers, content = real.status_code, dict(real.headers), real.content
    transport = httpx.MockTransport(lambda request: httpx.Response(status, headers=headers, content=content))
    return openai.OpenAI(base_url="http://fake-provider.invalid/v1", api_key="bench", max_retries=0,
                         http_client=httpx.Client(transport=transport))


MESSAGES = [{"role": "user", "content": "Summarise the ticket in one line."}]


def sdk_overhead(calls: int = 2000, rounds: int = 9) -> dict[str, object]:
    """Median µs per openai chat.completions.create on the fake provider's answer, three ways."""
    from tierscope.instrumentation import instrument, role, uninstrument

    result: dict[str, object] = {}
    try:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    except ImportError as exc:
        OpenAIInstrumentor = None  # noqa: N806
        result["openllmetry"] = f"skipped: opentelemetry-instrumentation-openai not importable ({exc})"
    client = _replayed_fake_provider_client()

    def call() -> None:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    for _ in range(200):
        call()  # SDK lazy imports and caches
    llmetry_provider, ours_provider = _provider(False), _provider(True)
    times: dict[str, list[float]] = {"none": [], "tierscope": [], "openllmetry": []}
    with role("planner"):
        for _ in range(rounds):
            times["none"].append(_per_call_us(call, calls))
            instrument(tracer_provider=ours_provider, sdks=("openai",))
            times["tierscope"].append(_per_call_us(call, calls))
            uninstrument()
            if OpenAIInstrumentor is not None:
                instrumentor = OpenAIInstrumentor()
                instrumentor.instrument(tracer_provider=llmetry_provider)
                times["openllmetry"].append(_per_call_us(call, calls))
                instrumentor.uninstrument()
    base = statistics.median(times["none"])
    result["uninstrumented_call_us"] = base
    result["tierscope_added_us"] = statistics.median(times["tierscope"]) - base
    if times["openllmetry"]:
        result["openllmetry_added_us"] = statistics.median(times["openllmetry"]) - base
    return result


def main(scale: float = 1.0) -> dict[str, object]:
    return {**span_overhead(calls=max(200, int(20_000 * scale))),
            **sdk_overhead(calls=max(50, int(2000 * scale)), rounds=9 if scale >= 1 else 3)}


if __name__ == "__main__":
    print(json.dumps(main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)))
