"""An app on the official OpenTelemetry SDK with DEFAULT settings, emitting LLM spans under parents.

`python bench/sdk_app.py http|grpc ENDPOINT SPANS [SECONDS]`: a TracerProvider with the default
BatchSpanProcessor (queue 2,048, batches of 512, one export in flight) and the OTLP exporter for
the protocol, emitting SPANS LLM spans, each under an agent span, paced over SECONDS (default 2).
Prints one JSON line: spans the exporter delivered (LLM and all), whether the SDK logged "Queue
full", the pacing achieved and each export's latency. The bench and the acceptance test share it.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

ROLES = ("planner", "coder", "critic", "summarizer")
MODELS = ("gpt-4o", "gpt-4o-mini")


def usage(i: int) -> tuple[int, int]:
    """(input, output) tokens of LLM span i: the expected costs are computed from the same."""
    return 1000 + i, 10 + i % 97


class _Drops(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main(protocol: str, endpoint: str, spans: int, seconds: float = 2.0) -> dict[str, object]:
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint)
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
    drops = _Drops()
    logging.getLogger("opentelemetry").addHandler(drops)
    delivered = {"llm": 0, "all": 0}
    latencies: list[float] = []
    export = exporter.export

    def timed_export(batch):  # noqa: ANN001, ANN202 - the SDK's SpanExporter.export
        t0 = time.perf_counter()
        result = export(batch)
        latencies.append((time.perf_counter() - t0) * 1000)
        if result is SpanExportResult.SUCCESS:
            delivered["all"] += len(batch)
            delivered["llm"] += sum(1 for s in batch if s.name == "chat")
        return result

    exporter.export = timed_export
    provider = TracerProvider(resource=Resource.create({"service.name": f"app-{protocol}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))  # every setting at its default
    tracer = provider.get_tracer("app")
    start = time.monotonic()
    for i in range(spans):
        tokens_in, tokens_out = usage(i)
        with tracer.start_as_current_span("invoke_agent", attributes={"gen_ai.operation.name": "invoke_agent"}):
            with tracer.start_as_current_span("chat", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": MODELS[i % 2], "tierscope.role": ROLES[i % 4],
                    "gen_ai.usage.input_tokens": tokens_in, "gen_ai.usage.output_tokens": tokens_out}):
                pass
        ahead = start + (i + 1) * seconds / spans - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    emitted = time.monotonic() - start
    provider.shutdown()
    latencies.sort()
    return {"protocol": protocol, "emitted_s": round(emitted, 2), "delivered_llm": delivered["llm"],
            "delivered": delivered["all"], "queue_full": any("Queue full" in m for m in drops.messages),
            "exports": len(latencies), "export_p50_ms": round(latencies[len(latencies) // 2], 1) if latencies else None,
            "export_max_ms": round(latencies[-1], 1) if latencies else None}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 2.0)))
