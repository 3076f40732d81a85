"""Shared fixtures. Instrumentation chain: span_exporter -> tracer_provider -> tierscope_tracing -> instrumented.

The tracer provider is a real SDK one (not the global: other tests may set that), with the role
processor first and an in-memory exporter; the fake provider is a real HTTP server the real
openai/anthropic SDKs talk to.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tierscope.client import ApiClient
from tierscope.demo.fake_provider import FakeProvider, start_fake_provider
from tierscope.instrumentation import RoleSpanProcessor, instrument, set_tier_map, uninstrument
from tierscope.instrumentation.conventions import INSTRUMENTATION_SCOPE


@pytest.fixture(scope="session")
def _session_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="session")
def tracer_provider(_session_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(RoleSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(_session_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def span_exporter(_session_exporter: InMemorySpanExporter, tracer_provider: TracerProvider) -> InMemorySpanExporter:
    """The in-memory exporter behind ``tracer_provider``, emptied for this test."""
    _session_exporter.clear()
    return _session_exporter


@pytest.fixture
def tierscope_tracing(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> Iterator[InMemorySpanExporter]:
    """tierscope's own spans (llm_call, quality) go to ``tracer_provider``; no SDK is patched."""
    instrument(tracer_provider=tracer_provider, sdks=())
    set_tier_map(None)
    yield span_exporter
    set_tier_map(None)


@pytest.fixture
def instrumented(tierscope_tracing: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """openai and anthropic patched for this test, undone after it."""
    instrument()
    yield tierscope_tracing
    uninstrument()


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeProvider]:
    with start_fake_provider() as fake:
        yield fake


@pytest.fixture
def openai_client(fake_provider: FakeProvider):
    import openai

    with openai.OpenAI(base_url=f"{fake_provider.url}/v1", api_key="test", max_retries=0) as client:
        yield client


@pytest.fixture
def anthropic_client(fake_provider: FakeProvider):
    import anthropic

    with anthropic.Anthropic(base_url=fake_provider.url, api_key="test", max_retries=0) as client:
        yield client


def tierscope_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The finished spans tierscope itself emitted (not the SDKs' own), in end order."""
    return [
        span
        for span in exporter.get_finished_spans()
        if span.instrumentation_scope is not None and span.instrumentation_scope.name == INSTRUMENTATION_SCOPE
    ]


@pytest.fixture
def finished_spans(span_exporter: InMemorySpanExporter):
    """``finished_spans()``: tierscope's finished spans so far in this test."""
    return lambda: tierscope_spans(span_exporter)


@pytest.fixture(scope="module")
def api(collector) -> Iterator[ApiClient]:
    """A read-API client on the module's `collector` fixture (the modules that read spend define one)."""
    client = ApiClient(collector.url)
    yield client
    client.close()
