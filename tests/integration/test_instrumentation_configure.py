"""configure(): SDK provider + OTLP exporter from OTEL_* variables (arguments win), role processor included.

Each test exports to a real local OTLP receiver (HTTP or gRPC) and decodes what arrived.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tierscope.instrumentation import configure, llm_call, role, set_tier_map
from tierscope.instrumentation import conventions as c
from tierscope.instrumentation._tracing import use_tracer_provider

ExportRequest = trace_service_pb2.ExportTraceServiceRequest


class HttpReceiver:
    def __init__(self) -> None:
        self.requests: list[ExportRequest] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.path == "/v1/traces":
                    received.append(ExportRequest.FromString(body))
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class GrpcReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[ExportRequest] = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.url = f"http://127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        self._server.start()

    def Export(self, request: ExportRequest, context: object) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def stop(self) -> None:
        self._server.stop(grace=None)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def grpc_receiver() -> Iterator[GrpcReceiver]:
    receiver = GrpcReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch) -> Iterator[None]:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "TIERSCOPE_TIERS",
    ):
        monkeypatch.delenv(name, raising=False)
    yield
    use_tracer_provider(None)  # configure() pointed tierscope's spans at its provider
    set_tier_map(None)


def emit_and_flush(provider) -> None:
    with role("planner", team="search"):
        with llm_call(model="house-model", provider="openai") as call:
            call.record_usage(input_tokens=10, output_tokens=2)
        with provider.get_tracer("another.instrumentation").start_as_current_span("tool call"):
            pass
    assert provider.force_flush(5_000)
    provider.shutdown()


def decoded(requests: list[ExportRequest]) -> tuple[dict, dict]:
    """(resource attributes, {span name: span attributes}) of what the receiver got."""
    resource: dict = {}
    spans: dict = {}
    for request in requests:
        for resource_spans in request.resource_spans:
            resource.update({kv.key: kv.value.string_value for kv in resource_spans.resource.attributes})
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans[span.name] = {kv.key: kv.value.string_value or kv.value.int_value for kv in span.attributes}
    return resource, spans


def test_http_by_default_with_resource_from_env(http_receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "support-agent")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging,team.owner=ops")
    monkeypatch.setenv("TIERSCOPE_TIERS", "house-model=small")

    emit_and_flush(configure(set_global=False))

    resource, spans = decoded(http_receiver.requests)
    assert resource["service.name"] == "support-agent"
    assert resource["deployment.environment.name"] == "staging"
    assert resource["team.owner"] == "ops"
    llm = spans["chat house-model"]
    assert (llm[c.ROLE], llm[c.TEAM], llm[c.TIER], llm[c.USAGE_INPUT_TOKENS]) == ("planner", "search", "small", 10)
    assert spans["tool call"][c.ROLE] == "planner"  # the role processor is registered


def test_grpc_selected_by_env(grpc_receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", grpc_receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "grpc-agent")

    emit_and_flush(configure(set_global=False))

    resource, spans = decoded(grpc_receiver.requests)
    assert resource["service.name"] == "grpc-agent"
    assert spans["chat house-model"][c.ROLE] == "planner"


def test_explicit_arguments_beat_env(http_receiver, grpc_receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", grpc_receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
    monkeypatch.setenv("TIERSCOPE_TIERS", "house-model=small")

    provider = configure(
        endpoint=http_receiver.url,
        protocol="http/protobuf",
        service_name="from-argument",
        resource_attributes={"deployment.environment.name": "prod"},
        tiers={"house-model": "mid"},
        set_global=False,
    )
    emit_and_flush(provider)

    assert grpc_receiver.requests == []
    resource, spans = decoded(http_receiver.requests)
    assert resource["service.name"] == "from-argument"
    assert resource["deployment.environment.name"] == "prod"
    assert spans["chat house-model"][c.TIER] == "mid"


def test_exporter_argument_replaces_otlp():
    exporter = InMemorySpanExporter()
    provider = configure(exporter=exporter, service_name="unit", set_global=False)
    with role("worker"):
        with llm_call(model="gpt-4o", provider="openai"):
            pass
    provider.force_flush()
    (span,) = exporter.get_finished_spans()
    assert span.attributes[c.ROLE] == "worker"
    assert span.resource.attributes["service.name"] == "unit"
    provider.shutdown()


def test_protocol_validation(http_receiver, monkeypatch, caplog):
    with pytest.raises(ValueError):
        configure(protocol="http/json", set_global=False)  # type: ignore[arg-type]

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")  # an operator's typo: warn, use the default
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_receiver.url)
    with caplog.at_level(logging.WARNING, logger="tierscope.instrumentation"):
        provider = configure(set_global=False)
    assert "not supported" in caplog.text
    emit_and_flush(provider)
    assert http_receiver.requests


def test_importing_the_instrumentation_loads_the_api_only():
    code = (
        "import sys, tierscope.instrumentation as t\n"
        "t.role('planner'); t.llm_call\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('openai', 'anthropic', 'genai_prices', 'grpc')"
        " or m.startswith('opentelemetry.sdk')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
