"""OTLP trace requests -> LLM span rows and late-quality events. Pure: no I/O, no clock.

Accepts the GenAI attribute spellings in the wild (see instrumentation/conventions.py): current
OpenTelemetry semconv, its older names, OpenLLMetry's and OpenInference's. Non-LLM spans are
counted and dropped; spans that cannot be trusted are rejected with a reason, and the good spans
of the same request are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tierscope.instrumentation import conventions as c

MAX_TOKENS = 100_000_000  # per kind per span; more than any real call, less than a corrupt counter
MAX_DIMENSION_CHARS = 1024  # role, team, model, ...: longer values are cut to this
MAX_ATTRIBUTES = 64  # extra attributes kept per span
MAX_ATTRIBUTE_CHARS = 2048
MAX_REASONS = 20  # distinct rejection reasons reported back in partial_success

LLM_OPERATIONS = frozenset({
    "chat", "text_completion", "completion", "generate_content", "embeddings", "embedding",
    "responses", "response",
})
NOT_LLM_OPERATIONS = frozenset({"invoke_agent", "create_agent", "execute_tool", "workflow", "task", "tool"})
OPENINFERENCE_LLM_KINDS = frozenset({"LLM", "EMBEDDING"})
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}

# Keys this module turns into columns; everything else (minus content) goes to `attributes`.
_EXTRACTED = frozenset({
    *c.MODEL_KEYS, *c.PROVIDER_KEYS, *c.INPUT_TOKENS_KEYS, *c.OUTPUT_TOKENS_KEYS, *c.CACHE_READ_KEYS,
    *c.CACHE_WRITE_KEYS, *c.REASONING_KEYS, *c.OPERATION_KEYS, c.ROLE, c.TIER, c.TEAM, c.FEATURE,
    c.QUALITY_SCORE, c.QUALITY_SOURCE, c.AGENT_NAME, c.CONVERSATION_ID, c.ERROR_TYPE,
    c.ROUTER_POLICY_VERSION, c.ROUTER_PROPENSITY, c.ROUTER_EXPLORED, c.ROUTER_ESCALATED_FROM,
})

SPAN_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "start_time", "end_time", "status_code",
    "error_type", "service", "environment", "role", "tier", "team", "feature", "agent_name",
    "conversation_id", "operation", "provider", "request_model", "response_model", "model",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "quality_score", "quality_source", "router_policy_version", "router_propensity",
    "router_explored", "escalated_from", "attributes",
)
QUALITY_COLUMNS = ("trace_id", "span_id", "event_id", "event_time", "score", "source")

TierResolver = Callable[[str, str], str]


class Rejected(ValueError):
    """A span that cannot be stored; the message is the reason reported to the client."""


@dataclass
class Normalized:
    """Column-oriented rows from one or more OTLP requests."""

    spans: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in SPAN_COLUMNS})
    quality: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in QUALITY_COLUMNS})
    non_llm: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def span_count(self) -> int:
        return len(self.spans["span_id"])

    @property
    def quality_count(self) -> int:
        return len(self.quality["span_id"])

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if reason in self.reasons or len(self.reasons) < MAX_REASONS:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def warn(self, warning: str) -> None:
        if warning in self.warnings or len(self.warnings) < MAX_REASONS:
            self.warnings[warning] = self.warnings.get(warning, 0) + 1

    def message(self) -> str:
        """partial_success.error_message: rejection reasons first, then warnings, with counts."""
        parts = [f"{n} rejected: {r}" for r, n in self.reasons.items()]
        parts += [f"warning ({n}): {w}" for w, n in self.warnings.items()]
        return "; ".join(parts)


def any_value(value: Any) -> Any:
    """An OTLP AnyValue as a plain Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in key_values}


def _first(attrs: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _tokens(attrs: dict[str, Any], keys: tuple[str, ...]) -> int:
    value = _first(attrs, keys)
    if value is None:
        return 0
    if isinstance(value, bool):
        raise Rejected(f"{keys[0]} is a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise Rejected(f"{keys[0]} is not an integer") from None
    if not isinstance(value, int):
        raise Rejected(f"{keys[0]} is not an integer")
    if value < 0 or value > MAX_TOKENS:
        raise Rejected(f"{keys[0]} out of range [0, {MAX_TOKENS}]")
    return value


def _text(value: Any, out: Normalized, what: str) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_DIMENSION_CHARS:
        out.warn(f"{what} longer than {MAX_DIMENSION_CHARS} characters was cut")
        text = text[:MAX_DIMENSION_CHARS]
    return text


def _score(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if 0.0 <= score <= 1.0 else None


def is_llm_span(attrs: dict[str, Any]) -> bool:
    operation = _first(attrs, c.OPERATION_KEYS)
    if isinstance(operation, str) and operation:
        return operation.lower() in LLM_OPERATIONS
    kind = attrs.get(c.OPENINFERENCE_SPAN_KIND)
    if isinstance(kind, str) and kind:
        return kind.upper() in OPENINFERENCE_LLM_KINDS
    return _first(attrs, c.MODEL_KEYS) is not None and _first(attrs, c.INPUT_TOKENS_KEYS + c.OUTPUT_TOKENS_KEYS) is not None


def _is_content(key: str) -> bool:
    return key.startswith(c.CONTENT_KEY_PREFIXES)


def normalize(
    request: ExportTraceServiceRequest,
    *,
    resolve_tier: TierResolver | None = None,
    keep_content: bool = False,
    out: Normalized | None = None,
) -> Normalized:
    """Append the request's LLM spans and quality events to `out` (a new Normalized by default)."""
    out = out if out is not None else Normalized()
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        context = {
            "service": _text(resource.get(c.SERVICE_NAME), out, "service.name"),
            "environment": _text(_first(resource, c.DEPLOYMENT_ENVIRONMENT), out, "environment"),
            "team": resource.get(c.TEAM),
            "feature": resource.get(c.FEATURE),
        }
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    _one_span(span, context, out, resolve_tier, keep_content)
                except Rejected as exc:
                    out.reject(str(exc))
    return out


def _ids(span: Any) -> tuple[str, str, str]:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        raise Rejected("trace_id must be 16 bytes, not all zero")
    if len(span.span_id) != 8 or not any(span.span_id):
        raise Rejected("span_id must be 8 bytes, not all zero")
    if len(span.parent_span_id) not in (0, 8):
        raise Rejected("parent_span_id must be empty or 8 bytes")
    return span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex()


def _one_span(span: Any, context: dict[str, Any], out: Normalized, resolve_tier: TierResolver | None,
              keep_content: bool) -> None:
    attrs = attributes(span.attributes)
    if span.name == c.QUALITY_SPAN_NAME and c.QUALITY_TARGET_SPAN_ID in attrs:
        _quality_event(span, attrs, out)
        return
    if not is_llm_span(attrs):
        out.non_llm += 1
        return
    trace_id, span_id, parent_span_id = _ids(span)
    if span.start_time_unix_nano == 0:
        raise Rejected("start_time_unix_nano is missing")
    end = max(span.end_time_unix_nano, span.start_time_unix_nano)

    input_tokens = _tokens(attrs, c.INPUT_TOKENS_KEYS)
    output_tokens = _tokens(attrs, c.OUTPUT_TOKENS_KEYS)
    cache_read = _tokens(attrs, c.CACHE_READ_KEYS)
    cache_write = _tokens(attrs, c.CACHE_WRITE_KEYS)
    reasoning = _tokens(attrs, c.REASONING_KEYS)
    if cache_read + cache_write > input_tokens:
        # Reported the Anthropic way (input excludes cache); semconv's input includes it.
        input_tokens += cache_read + cache_write
    if reasoning > output_tokens:
        output_tokens += reasoning

    request_model = _text(_first(attrs, c.REQUEST_MODEL_KEYS), out, "model")
    response_model = _text(attrs.get(c.RESPONSE_MODEL), out, "model")
    model = response_model or request_model or _text(_first(attrs, c.MODEL_KEYS), out, "model")
    provider = _text(_first(attrs, c.PROVIDER_KEYS), out, "provider").lower()
    tier = str(attrs.get(c.TIER) or "").lower()
    if tier not in c.TIERS:
        if tier:
            out.warn(f"unknown tier {tier[:40]!r} replaced by the model's tier")
        tier = resolve_tier(model, provider) if resolve_tier and model else ""

    score = _score(attrs.get(c.QUALITY_SCORE))
    if score is None and attrs.get(c.QUALITY_SCORE) is not None:
        out.warn(f"{c.QUALITY_SCORE} must be a number in [0, 1]; ignored")
    propensity = attrs.get(c.ROUTER_PROPENSITY)
    propensity = float(propensity) if isinstance(propensity, (int, float)) and not isinstance(propensity, bool) and 0 < propensity <= 1 else None

    extra = {}
    for key, value in attrs.items():
        if key in _EXTRACTED or (not keep_content and _is_content(key)):
            continue
        if len(extra) >= MAX_ATTRIBUTES:
            out.warn(f"more than {MAX_ATTRIBUTES} extra attributes; the rest were dropped")
            break
        extra[key[:MAX_ATTRIBUTE_CHARS]] = str(value)[:MAX_ATTRIBUTE_CHARS]

    row = out.spans
    row["trace_id"].append(trace_id)
    row["span_id"].append(span_id)
    row["parent_span_id"].append(parent_span_id)
    row["name"].append(span.name[:MAX_DIMENSION_CHARS])
    row["start_time"].append(span.start_time_unix_nano)
    row["end_time"].append(end)
    row["status_code"].append(_STATUS.get(span.status.code, "UNSET"))
    row["error_type"].append(_text(attrs.get(c.ERROR_TYPE), out, "error.type"))
    row["service"].append(context["service"])
    row["environment"].append(context["environment"])
    row["role"].append(_text(attrs.get(c.ROLE), out, "role"))
    row["tier"].append(tier)
    row["team"].append(_text(attrs.get(c.TEAM) or context["team"], out, "team"))
    row["feature"].append(_text(attrs.get(c.FEATURE) or context["feature"], out, "feature"))
    row["agent_name"].append(_text(attrs.get(c.AGENT_NAME), out, "gen_ai.agent.name"))
    row["conversation_id"].append(_text(attrs.get(c.CONVERSATION_ID), out, "gen_ai.conversation.id"))
    row["operation"].append(_text(_first(attrs, c.OPERATION_KEYS) or "chat", out, "operation").lower())
    row["provider"].append(provider)
    row["request_model"].append(request_model)
    row["response_model"].append(response_model)
    row["model"].append(model)
    row["input_tokens"].append(input_tokens)
    row["output_tokens"].append(output_tokens)
    row["cache_read_tokens"].append(cache_read)
    row["cache_write_tokens"].append(cache_write)
    row["reasoning_tokens"].append(reasoning)
    row["quality_score"].append(score)
    row["quality_source"].append(_text(attrs.get(c.QUALITY_SOURCE), out, "quality source") if score is not None else "")
    row["router_policy_version"].append(_text(attrs.get(c.ROUTER_POLICY_VERSION), out, "policy version"))
    row["router_propensity"].append(propensity)
    row["router_explored"].append(attrs.get(c.ROUTER_EXPLORED) is True)
    row["escalated_from"].append(_text(attrs.get(c.ROUTER_ESCALATED_FROM), out, "escalated_from"))
    row["attributes"].append(extra)


def _hex_id(value: Any, length: int, what: str) -> str:
    text = str(value or "").lower()
    if len(text) != length or any(ch not in "0123456789abcdef" for ch in text) or not text.strip("0"):
        raise Rejected(f"{what} must be {length} hex characters")
    return text


def _quality_event(span: Any, attrs: dict[str, Any], out: Normalized) -> None:
    score = _score(attrs.get(c.QUALITY_SCORE))
    if score is None:
        raise Rejected(f"quality event needs {c.QUALITY_SCORE} in [0, 1]")
    _, event_id, _ = _ids(span)
    trace_id = _hex_id(attrs.get(c.QUALITY_TARGET_TRACE_ID), 32, c.QUALITY_TARGET_TRACE_ID)
    span_id = _hex_id(attrs.get(c.QUALITY_TARGET_SPAN_ID), 16, c.QUALITY_TARGET_SPAN_ID)
    q = out.quality
    q["trace_id"].append(trace_id)
    q["span_id"].append(span_id)
    q["event_id"].append(event_id)
    q["event_time"].append(span.start_time_unix_nano or span.end_time_unix_nano)
    q["score"].append(score)
    q["source"].append(_text(attrs.get(c.QUALITY_SOURCE), out, "quality source"))
