"""Issue 7: spans from the GenAI instrumentations users already run are stored with the right model,
tokens and exact cost, and ``role()`` puts role and tier on them.

Each vendor package runs for real in its own Python process (as in an app: its environment read at
import, the global TracerProvider its own), with tierscope's RoleSpanProcessor first and the real
OTLP/HTTP exporter to a real collector, calling the fake provider through the real openai/anthropic
SDKs. The expectations say what each vendor reports: where it drops a count (openai-v2 has no cache
or reasoning tokens on chat completions), tierscope can only price what it was told.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

ROLE, TIER, TEAM = "planner", "small", "interop"  # "small": a pinned tier no price band would give
OPENAI_USAGE = {"input": 1200, "output": 80, "cache_read": 1000, "reasoning": 30}
ANTHROPIC_USAGE = {"input": 1200, "output": 80, "cache_read": 700, "cache_write": 100}
# Uncached input larger than the cache: normalize's "cache > input" guess cannot see the quirk.
ANTHROPIC_BIG_INPUT = {"input": 5000, "output": 80, "cache_read": 700, "cache_write": 100}

# case: (module the test needs, environment, calls); a call is (api, model, usage).
CASES: dict[str, tuple[str, dict[str, str], list[tuple[str, str, dict]]]] = {
    "openai-v2": ("opentelemetry.instrumentation.openai_v2", {},
                  [("chat", "o3", OPENAI_USAGE), ("chat_stream", "gpt-4o", OPENAI_USAGE)]),
    "openai-v2-latest": ("opentelemetry.instrumentation.openai_v2",
                         {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"},
                         [("chat", "o3", OPENAI_USAGE), ("chat_stream", "gpt-4o", OPENAI_USAGE)]),
    "openllmetry-openai": ("opentelemetry.instrumentation.openai", {},
                           [("chat", "o3", OPENAI_USAGE), ("chat_stream", "gpt-4o", OPENAI_USAGE),
                            ("responses", "o3", OPENAI_USAGE)]),
    "openllmetry-anthropic": ("opentelemetry.instrumentation.anthropic", {},
                              [("messages", "claude-sonnet-4-5", ANTHROPIC_USAGE),
                               ("messages_stream", "claude-sonnet-4-5", ANTHROPIC_BIG_INPUT)]),
    "openinference-openai": ("openinference.instrumentation.openai", {},
                             [("chat", "o3", OPENAI_USAGE), ("chat_stream", "gpt-4o", OPENAI_USAGE),
                              ("responses", "o3", OPENAI_USAGE)]),
    "openlit-openai": ("openlit", {},
                       [("chat", "o3", OPENAI_USAGE), ("chat_stream", "gpt-4o", OPENAI_USAGE),
                        ("responses", "o3", OPENAI_USAGE)]),
    "openlit-anthropic": ("openlit", {}, [("messages", "claude-sonnet-4-5", ANTHROPIC_USAGE)]),
    "openlit-anthropic-big-input": ("openlit", {}, [("messages", "claude-sonnet-4-5", ANTHROPIC_BIG_INPUT)]),
}


def _span(model: str, usage: dict, *, cache: bool = True, reasoning: bool = True) -> tuple:
    """(model, input, output, cache_read, cache_write, reasoning) as a vendor reporting them stores it."""
    return (model, usage["input"], usage["output"], usage.get("cache_read", 0) if cache else 0,
            usage.get("cache_write", 0) if cache else 0, usage.get("reasoning", 0) if reasoning else 0)


U, A, B = OPENAI_USAGE, ANTHROPIC_USAGE, ANTHROPIC_BIG_INPUT
EXPECTED: dict[str, list[tuple]] = {
    # openai-v2 2.4b0 records prompt/completion tokens only: no cached_tokens, no reasoning_tokens.
    "openai-v2": [_span("o3", U, cache=False, reasoning=False), _span("gpt-4o", U, cache=False, reasoning=False)],
    "openai-v2-latest": [_span("o3", U, cache=False, reasoning=False),
                         _span("gpt-4o", U, cache=False, reasoning=False)],
    # OpenLLMetry: no reasoning count on a streamed chat completion.
    "openllmetry-openai": [_span("o3", U), _span("gpt-4o", U, reasoning=False), _span("o3", U)],
    # OpenLLMetry adds message_start's output_tokens (1) to message_delta's, which is already cumulative.
    "openllmetry-anthropic": [_span("claude-sonnet-4-5", A), _span("claude-sonnet-4-5", {**B, "output": 81})],
    "openinference-openai": [_span("o3", U), _span("gpt-4o", U), _span("o3", U)],
    # OpenLIT: reasoning only from the Responses API.
    "openlit-openai": [_span("o3", U, reasoning=False), _span("gpt-4o", U, reasoning=False), _span("o3", U)],
    "openlit-anthropic": [_span("claude-sonnet-4-5", A)],
    "openlit-anthropic-big-input": [_span("claude-sonnet-4-5", B)],
}


# --- the child process: one vendor, as an application would run it -------------------------------
def _instrument(case: str, provider) -> None:
    if case.startswith("openai-v2"):
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif case == "openllmetry-openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif case == "openllmetry-anthropic":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif case == "openinference-openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif case.startswith("openlit"):
        import openlit  # uses the global TracerProvider; a local prices file keeps it off the network
        prices = Path(os.environ["INTEROP_TMP"]) / "openlit-pricing.json"
        prices.write_text("{}")
        openlit.init(disable_metrics=True, disable_events=True, capture_message_content=False,
                     pricing_json=str(prices))


def _call(fake_url: str, api: str, model: str, usage: dict) -> None:
    import anthropic
    import openai

    from tierscope.demo.fake_provider import fake_headers

    headers = fake_headers(**usage)
    messages = [{"role": "user", "content": "Plan the trip."}]
    if api.startswith("messages"):
        with anthropic.Anthropic(base_url=fake_url, api_key="x", max_retries=0) as client:
            reply = client.messages.create(model=model, max_tokens=64, messages=messages,
                                           stream=api == "messages_stream", extra_headers=headers)
            if api == "messages_stream":
                list(reply)
        return
    with openai.OpenAI(base_url=f"{fake_url}/v1", api_key="x", max_retries=0) as client:
        if api == "responses":
            client.responses.create(model=model, input="Plan the trip.", extra_headers=headers)
        elif api == "chat_stream":
            list(client.chat.completions.create(model=model, messages=messages, stream=True, extra_headers=headers,
                                                stream_options={"include_usage": True}))
        else:
            client.chat.completions.create(model=model, messages=messages, extra_headers=headers)


def _child(case: str, fake_url: str, collector_url: str) -> None:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from tierscope.instrumentation import RoleSpanProcessor, role

    service = os.environ.get("INTEROP_SERVICE") or f"interop-{case}"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(RoleSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{collector_url}/v1/traces")))
    trace.set_tracer_provider(provider)
    _instrument(case, provider)
    with role(ROLE, team=TEAM, tier=TIER):
        for api, model, usage in CASES[case][2]:
            _call(fake_url, api, model, usage)
    provider.shutdown()  # flushes: returns once the collector acknowledged (= stored) the spans


# --- the test process ------------------------------------------------------------------------------
def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _skip_unless_usable(case: str) -> None:
    module = CASES[case][0]
    if not _installed(module):
        pytest.skip(f"{module} is not installed (pip install -e '.[interop]'; openlit: --no-deps)")
    if case.startswith("openai-v2") and not _installed("opentelemetry.util.genai.instruments"):
        pytest.skip("opentelemetry-instrumentation-openai-v2 2.4b0 needs opentelemetry-util-genai<1.0 "
                    "(1.x moved `instruments`)")


def run_vendor(case: str, fake_url: str, collector_url: str, tmp_path: Path, **env: str) -> None:
    """Run the vendor's calls in a child process; its spans go to the collector as service interop-CASE."""
    environment = {**os.environ, "INTEROP_TMP": str(tmp_path), "ANTHROPIC_OPEN_TELEMETRY": "false",
                   **CASES[case][1], **env}
    if case == "openai-v2":  # the default (stable) mode, whatever this shell says
        environment.pop("OTEL_SEMCONV_STABILITY_OPT_IN", None)
    done = subprocess.run([sys.executable, __file__, case, fake_url, collector_url], env=environment,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]


def expected_cost(model: str, provider: str, tokens: tuple) -> Decimal:
    from genai_prices import Usage, calc_price

    _, input_tokens, output_tokens, cache_read, cache_write, _ = tokens
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cache_read,
                  cache_write_tokens=cache_write)
    return calc_price(usage, model_ref=model, provider_id=provider).total_price


def stored(api, service: str) -> list[dict]:
    return api.get("spans", service=service, limit=1000)["rows"]


def token_tuple(row: dict) -> tuple:
    return (row["model"], row["input_tokens"], row["output_tokens"], row["cache_read_tokens"],
            row["cache_write_tokens"], row["reasoning_tokens"])


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    from support import running_collector

    with running_collector(tmp_path_factory.mktemp("interop") / "store") as running:
        yield running


@pytest.fixture(scope="module")
def vendor_rows(collector, fake_provider, tmp_path_factory):
    """rows(case): the stored spans of CASE, its vendor run once per module."""
    from tierscope.client import ApiClient

    cache: dict[str, list[dict]] = {}
    client = ApiClient(collector.url)

    def rows(case: str) -> list[dict]:
        _skip_unless_usable(case)
        if case not in cache:
            run_vendor(case, fake_provider.url, collector.url, tmp_path_factory.mktemp(case))
            cache[case] = stored(client, f"interop-{case}")
        return cache[case]

    yield rows
    client.close()


def _openlit_anthropic_input_is_read_right() -> bool:
    """Whether normalize already applies interop_vendors.adapt_attributes (see the report)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from tierscope.collector.ingest.normalize import normalize

    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    scope_spans.scope.name = "openlit.instrumentation.anthropic"
    span = scope_spans.spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=1, name="chat")
    for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "claude-sonnet-4-5")):
        span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    for key, value in (("gen_ai.usage.input_tokens", 4200), ("gen_ai.usage.cache_read.input_tokens", 800)):
        span.attributes.append(KeyValue(key=key, value=AnyValue(int_value=value)))
    return normalize(request).spans["input_tokens"] == [5000]


def _pinned_tier_survives_late_attributes() -> bool:
    """Whether a role's pinned tier reaches an LLM span whose attributes are all set after it started
    (as openai-v2's latest mode, OpenLIT and OpenLLMetry's Responses wrapper do), end to end."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tierscope.collector.ingest.normalize import normalize
    from tierscope.instrumentation import RoleSpanProcessor, role

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(RoleSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with role(ROLE, tier=TIER):
        span = provider.get_tracer("late").start_span("chat")
    span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "o3",
                         "gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 1})
    span.end()
    return normalize(encode_spans(memory.get_finished_spans())).spans["tier"] == [TIER]


LATE_ATTRIBUTES = ("openai-v2-latest", "openllmetry-openai", "openlit-openai", "openlit-anthropic",
                   "openlit-anthropic-big-input")
LATE_TIER = pytest.mark.xfail(
    not _pinned_tier_survives_late_attributes(), strict=True,
    reason="the vendor sets model/operation after span start, so RoleSpanProcessor.on_start cannot tell an "
           "LLM span and leaves the tier out; the collector falls back to the model's price band")
BIG_INPUT = pytest.mark.xfail(
    not _openlit_anthropic_input_is_read_right(), strict=True,
    reason="OpenLIT's Anthropic input_tokens excludes the cache; needs normalize to call "
           "collector/interop_vendors.adapt_attributes")


@pytest.mark.parametrize("case", [
    pytest.param(case, marks=BIG_INPUT) if case == "openlit-anthropic-big-input" else case for case in CASES])
def test_vendor_spans_have_the_model_tokens_role_and_exact_cost(case, vendor_rows, api):
    rows = vendor_rows(case)
    assert sorted(token_tuple(r) for r in rows) == sorted(EXPECTED[case])
    assert {(r["role"], r["team"]) for r in rows} == {(ROLE, TEAM)}
    provider = "anthropic" if "anthropic" in case else "openai"
    assert {r["provider"] for r in rows} == {provider}
    for row in rows:
        assert row["priced"] is True
        assert Decimal(row["cost_usd"]) == expected_cost(row["model"], provider, token_tuple(row)), token_tuple(row)

    spend = api.get("spend", by=["role", "model"], service=[f"interop-{case}"])
    by_model = Counter(model for model, *_ in EXPECTED[case])
    assert {(r["role"], r["model"]): r["spans"] for r in spend["rows"]} == {(ROLE, m): n for m, n in by_model.items()}
    total = sum((expected_cost(t[0], provider, t) for t in EXPECTED[case]), Decimal(0))
    assert Decimal(spend["total"]["cost_usd"]) == total
    assert spend["total"]["unpriced_spans"] == 0


@pytest.mark.parametrize("case", [pytest.param(case, marks=LATE_TIER) if case in LATE_ATTRIBUTES else case
                                  for case in CASES])
def test_role_pins_the_tier_of_vendor_spans(case, vendor_rows):
    assert {r["tier"] for r in vendor_rows(case)} == {TIER}


def _sdk_duplicate_is_dropped() -> bool:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from tierscope.collector.ingest.normalize import normalize

    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    for scope, span_id, parent in (("opentelemetry.instrumentation.anthropic", b"\x02" * 8, b""),
                                   ("com.anthropic.sdk.python", b"\x03" * 8, b"\x02" * 8)):
        scope_spans = resource.scope_spans.add()
        scope_spans.scope.name = scope
        span = scope_spans.spans.add(trace_id=b"\x01" * 16, span_id=span_id, parent_span_id=parent,
                                     start_time_unix_nano=1, name="chat")
        span.attributes.append(KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")))
        span.attributes.append(KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="claude-sonnet-4-5")))
    return normalize(request).span_count == 1


def test_nested_sdk_span_is_dropped_in_normalize():
    assert _sdk_duplicate_is_dropped()


@pytest.mark.xfail(strict=True,
                   reason="KNOWN GAP: anthropic>=2 traces its own call and OpenLLMetry's anthropic span is not "
                          "made current, so the SDK's span is a separate root trace: two LLM spans, one call. "
                          "Dropped when nested (same batch, or marked by RoleSpanProcessor), not in this shape.")
def test_anthropic_sdk_own_span_under_a_vendor_span_is_counted_once(collector, api, fake_provider, tmp_path):
    case = "openllmetry-anthropic"
    _skip_unless_usable(case)
    run_vendor(case, fake_provider.url, collector.url, tmp_path, ANTHROPIC_OPEN_TELEMETRY="true",
               INTEROP_SERVICE="interop-sdk-tracing-on")
    rows = stored(api, "interop-sdk-tracing-on")
    assert sorted(token_tuple(r) for r in rows) == sorted(EXPECTED[case])  # one span per call


def test_adapt_attributes_adds_the_cache_back_for_openlit_anthropic_only():
    from tierscope.collector.ingest.vendors import adapt_attributes

    openlit = {"gen_ai.usage.input_tokens": 4200, "gen_ai.usage.cache_read.input_tokens": 700,
               "gen_ai.usage.cache_creation.input_tokens": 100, "gen_ai.usage.output_tokens": 80}
    assert adapt_attributes("openlit.instrumentation.anthropic", openlit)["gen_ai.usage.input_tokens"] == 5000
    assert adapt_attributes("openlit.instrumentation.openai", openlit) is openlit
    as_strings = {k: str(v) for k, v in openlit.items()}  # as read back from otel_traces
    assert adapt_attributes("openlit.instrumentation.anthropic", as_strings)["gen_ai.usage.input_tokens"] == 5000
    no_cache = {"gen_ai.usage.input_tokens": 4200}
    assert adapt_attributes("openlit.instrumentation.anthropic", no_cache) is no_cache
    bad = {"gen_ai.usage.input_tokens": "lots", "gen_ai.usage.cache_read.input_tokens": 1}
    assert adapt_attributes("openlit.instrumentation.anthropic", bad) is bad  # normalize rejects it


def test_nested_sdk_duplicates_keeps_the_outer_span():
    from tierscope.collector.ingest.vendors import nested_sdk_duplicates

    vendor, sdk, lone_sdk = b"\x01" * 8, b"\x02" * 8, b"\x03" * 8
    spans = [("opentelemetry.instrumentation.anthropic", vendor, b""),
             ("com.anthropic.sdk.python", sdk, vendor),
             ("com.anthropic.sdk.python", lone_sdk, b"\x09" * 8)]  # its parent is no LLM span: kept
    assert nested_sdk_duplicates(spans) == {sdk}


if __name__ == "__main__":
    _child(*sys.argv[1:4])
    sys.exit(0)
