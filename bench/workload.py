"""Realistic GenAI spans for the benchmarks, as pre-encoded OTLP request bodies or as store rows.

Ingest bodies are assembled at the protobuf wire level from per-(model, role, ...) templates that
the real protobuf library serialized once, plus the per-span fields (ids, times, token counts,
response id) encoded by hand: generating a million spans this way takes seconds, not minutes, and
`tests/test_bench_smoke.py` checks the bytes parse to the same spans the protobuf library would
build. Store rows (for the query benchmark) are generated as Arrow columns with numpy.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span, Status

# (model, provider, tier, reasoning?) — a mix like a multi-agent product's: mostly cheap models.
MODELS = [
    ("gpt-4o", "openai", "frontier", False),
    ("gpt-4o-mini", "openai", "small", False),
    ("gpt-4.1", "openai", "frontier", False),
    ("gpt-4.1-mini", "openai", "mid", False),
    ("gpt-4.1-nano", "openai", "small", False),
    ("o3", "openai", "frontier", True),
    ("o4-mini", "openai", "mid", True),
    ("claude-sonnet-4-5", "anthropic", "frontier", False),
    ("claude-3-5-haiku-latest", "anthropic", "mid", False),
    ("claude-opus-4-1", "anthropic", "frontier", False),
    ("gemini-2.5-pro", "google", "frontier", False),
    ("gemini-2.5-flash", "google", "small", False),
    ("deepseek-chat", "deepseek", "small", False),
    ("mistral-large-latest", "mistral", "mid", False),
    ("llama3.1:8b", "ollama", "local", False),
]
MODEL_WEIGHTS = np.array([14, 20, 6, 10, 8, 3, 5, 8, 8, 2, 4, 6, 3, 2, 1], dtype=float)
ROLES = [
    "planner", "router", "researcher", "retriever", "summarizer", "writer", "editor", "critic",
    "formatter", "classifier", "extractor", "translator", "coder", "reviewer", "tester", "sql_writer",
    "support_agent", "triage", "judge", "guardrail",
]
TEAMS = ["search", "support", "growth", "billing", "platform", "ml", "sales", "legal", "docs", "mobile"]
FEATURES = ["chat", "autocomplete", "triage", "report", "onboarding", "digest", "qa", "insights"]
SERVICES = ["agent-api", "support-bot", "report-worker", "search-svc", "batch-enricher"]
ENVIRONMENTS = ["production", "staging", "dev"]
ENVIRONMENT_WEIGHTS = np.array([0.85, 0.1, 0.05])
AGENTS = ["orchestrator", "research_agent", "support_agent", "coding_agent"]
FINISH_REASONS = ["stop", "length", "tool_calls"]
_DATED = {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4.1": "gpt-4.1-2025-04-14"}


def _varint(n: int) -> bytes:
    if n < len(_SMALL_VARINTS):
        return _SMALL_VARINTS[n]
    return _encode_varint(n)


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_SMALL_VARINTS = [_encode_varint(n) for n in range(1 << 14)]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value])))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
               "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.reasoning.output_tokens")
# field 9 (attributes) of a KeyValue whose AnyValue is int_value: prefix + varint(len) + rest
_INT_KV_KEYS = [_field(1, k.encode()) for k in _TOKEN_KEYS]
_RESPONSE_ID_KEY = _field(1, b"gen_ai.response.id")
_CONVERSATION_KEY = _field(1, b"gen_ai.conversation.id")


def _int_attribute(key_part: bytes, value: int) -> bytes:
    any_value = b"\x18" + _varint(value)  # AnyValue.int_value = 3, varint
    return _field(9, key_part + _field(2, any_value))


def _str_attribute(key_part: bytes, value: bytes) -> bytes:
    return _field(9, key_part + _field(2, _field(1, value)))


_TEAM_ATTRIBUTES = [_field(9, _kv("tierscope.team", t).SerializeToString()) for t in TEAMS]
_FEATURE_ATTRIBUTES = [_field(9, _kv("tierscope.feature", f).SerializeToString()) for f in FEATURES]


@dataclass(frozen=True)
class SpanSpec:
    """The per-span values, columnar (numpy), for `count` spans."""

    model: np.ndarray  # index into MODELS
    role: np.ndarray
    team: np.ndarray
    feature: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    cache_read: np.ndarray
    cache_write: np.ndarray
    reasoning: np.ndarray
    start_ns: np.ndarray
    duration_ns: np.ndarray
    error: np.ndarray  # bool
    trace_id: np.ndarray  # (count, 16) uint8
    span_id: np.ndarray  # (count, 8) uint8
    parent_id: np.ndarray  # (count, 8) uint8


def span_specs(count: int, seed: int, start_ns: int, spread_s: float) -> SpanSpec:
    """`count` spans' values with realistic skews: a few big prompts, caches mostly on repeats."""
    rng = np.random.default_rng(seed)
    model = rng.choice(len(MODELS), count, p=MODEL_WEIGHTS / MODEL_WEIGHTS.sum())
    provider_is_anthropic = np.array([m[1] == "anthropic" for m in MODELS])[model]
    reasons = np.array([m[3] for m in MODELS])[model]
    big = rng.random(count) < 0.03
    input_tokens = np.where(big, rng.integers(150_000, 260_000, count), rng.lognormal(7.0, 1.1, count).astype(np.int64) + 1)
    input_tokens = np.minimum(input_tokens, 1_000_000)
    cached = rng.random(count) < 0.4
    cache_read = np.where(cached, (input_tokens * rng.uniform(0.2, 0.9, count)).astype(np.int64), 0)
    cache_write = np.where(provider_is_anthropic & (rng.random(count) < 0.3),
                           ((input_tokens - cache_read) * rng.uniform(0, 0.5, count)).astype(np.int64), 0)
    output_tokens = rng.lognormal(5.0, 1.0, count).astype(np.int64) + 1
    reasoning = np.where(reasons, (output_tokens * rng.uniform(0, 0.8, count)).astype(np.int64), 0)
    ids = rng.integers(1, 256, (count, 32), dtype=np.uint8)
    return SpanSpec(
        model=model, role=rng.integers(0, len(ROLES), count), team=rng.integers(0, len(TEAMS), count),
        feature=rng.integers(0, len(FEATURES), count), input_tokens=input_tokens, output_tokens=output_tokens,
        cache_read=cache_read, cache_write=cache_write, reasoning=reasoning,
        start_ns=start_ns + np.sort(rng.integers(0, int(spread_s * 1e9), count)),
        duration_ns=rng.integers(200_000_000, 20_000_000_000, count), error=rng.random(count) < 0.01,
        trace_id=ids[:, :16], span_id=ids[:, 16:24], parent_id=ids[:, 24:32],
    )


def _template(model_index: int, role: int, error: bool) -> bytes:
    """Everything of a span that repeats across spans: name, kind, static attributes, status."""
    model, provider, tier, _ = MODELS[model_index]
    attrs = [
        _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.provider.name", provider),
        _kv("gen_ai.request.model", model), _kv("tierscope.role", ROLES[role]), _kv("tierscope.tier", tier), _kv("gen_ai.agent.name", AGENTS[role % len(AGENTS)]),
        _kv("gen_ai.request.temperature", 0.2), _kv("gen_ai.request.max_tokens", 4096),
        _kv("gen_ai.response.finish_reasons", [FINISH_REASONS[role % 3]]),
        _kv("server.address", f"api.{provider}.com"),
    ]
    if provider != "ollama":
        attrs.append(_kv("gen_ai.response.model", _DATED.get(model, model)))
    if error:
        attrs.append(_kv("error.type", "RateLimitError"))
    span = Span(name=f"chat {model}", kind=Span.SPAN_KIND_CLIENT, attributes=attrs,
                status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET))
    return span.SerializeToString()


class BodyBuilder:
    """OTLP ExportTraceServiceRequest bodies, one resource (service, environment) per request."""

    def __init__(self) -> None:
        self._templates: dict[tuple[int, int, bool], bytes] = {}
        self._resources: dict[tuple[int, int], bytes] = {}
        scope = ScopeSpans()
        scope.scope.name = "tierscope"
        scope.scope.version = "0.1.0"
        self._scope = _field(1, scope.scope.SerializeToString())

    def _resource(self, service: int, environment: int) -> bytes:
        key = (service, environment)
        if key not in self._resources:
            resource = Resource(attributes=[
                _kv("service.name", SERVICES[service]), _kv("deployment.environment.name", ENVIRONMENTS[environment]),
                _kv("telemetry.sdk.language", "python"), _kv("telemetry.sdk.name", "opentelemetry"),
                _kv("telemetry.sdk.version", "1.45.2"), _kv("service.version", "2.14.0"),
            ])
            self._resources[key] = _field(1, resource.SerializeToString())
        return self._resources[key]

    def span(self, s: SpanSpec, i: int) -> bytes:
        key = (int(s.model[i]), int(s.role[i]), bool(s.error[i]))
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = _template(*key)
        start = int(s.start_ns[i])
        parts = [
            b"\x0a\x10", s.trace_id[i].tobytes(), b"\x12\x08", s.span_id[i].tobytes(),
            b"\x22\x08", s.parent_id[i].tobytes(),
            b"\x39", struct.pack("<Q", start), b"\x41", struct.pack("<Q", start + int(s.duration_ns[i])),
            template, _TEAM_ATTRIBUTES[s.team[i]], _FEATURE_ATTRIBUTES[s.feature[i]],
            _int_attribute(_INT_KV_KEYS[0], int(s.input_tokens[i])),
            _int_attribute(_INT_KV_KEYS[1], int(s.output_tokens[i])),
            _str_attribute(_RESPONSE_ID_KEY, b"chatcmpl-" + s.span_id[i].tobytes().hex().encode()),
            _str_attribute(_CONVERSATION_KEY, b"conv-" + s.trace_id[i].tobytes()[:6].hex().encode()),
        ]
        if s.cache_read[i]:
            parts.append(_int_attribute(_INT_KV_KEYS[2], int(s.cache_read[i])))
        if s.cache_write[i]:
            parts.append(_int_attribute(_INT_KV_KEYS[3], int(s.cache_write[i])))
        if s.reasoning[i]:
            parts.append(_int_attribute(_INT_KV_KEYS[4], int(s.reasoning[i])))
        return b"".join(parts)

    def body(self, s: SpanSpec, rows: range, service: int, environment: int) -> bytes:
        spans = b"".join(_field(2, self.span(s, i)) for i in rows)
        scope_spans = _field(2, self._scope + spans)
        return _field(1, self._resource(service, environment) + scope_spans)


def request_bodies(count: int, batch: int = 500, seed: int = 7, start_ns: int = 1_795_000_000_000_000_000,
                   spread_s: float = 86_400.0) -> list[bytes]:
    """`count` LLM spans as ceil(count / batch) serialized ExportTraceServiceRequests."""
    specs = span_specs(count, seed, start_ns, spread_s)
    builder = BodyBuilder()
    rng = np.random.default_rng(seed + 1)
    env_of = rng.choice(len(ENVIRONMENTS), (count + batch - 1) // batch, p=ENVIRONMENT_WEIGHTS)
    bodies = []
    for n, first in enumerate(range(0, count, batch)):
        bodies.append(builder.body(specs, range(first, min(first + batch, count)), n % len(SERVICES), int(env_of[n])))
    return bodies


def live_request_bodies(count: int, batch: int = 500, seed: int = 7, lag_s: float = 30.0,
                        clock: Callable[[], int] = time.time_ns) -> Iterator[bytes]:
    """The spans of `request_bodies`, as live agents' exporters send them: each request is built
    when it is taken, its spans started in the `lag_s` seconds before `clock()` (a span is exported
    in a batch after it ends), so ingest writes into the open hour as in production."""
    builder = BodyBuilder()
    rng = np.random.default_rng(seed + 1)
    for n, first in enumerate(range(0, count, batch)):
        size = min(batch, count - first)
        specs = span_specs(size, seed * 1_000_003 + n, clock() - int(lag_s * 1e9), lag_s)
        environment = int(rng.choice(len(ENVIRONMENTS), p=ENVIRONMENT_WEIGHTS))
        yield builder.body(specs, range(size), n % len(SERVICES), environment)
