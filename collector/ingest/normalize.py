"""OTLP trace requests -> LLM span rows and late-quality events. Pure: no I/O, no clock.

Accepts the GenAI attribute spellings in the wild (see instrumentation/conventions.py): current
OpenTelemetry semconv, its older names, OpenLLMetry's and OpenInference's. Non-LLM spans are
counted and dropped; spans that cannot be trusted are rejected with a reason, and the good spans
of the same request are kept.

Speed: a span takes the fast path (`_fast_row`) when it is the common case — an LLM span whose
values need no warning, no rejection and no conversion — and the general path (`_one_span`)
otherwise, which handles everything and gives the same row the fast path would. Per distinct set
of attribute keys a `_Plan` says once which spellings are present and which keys are extras.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tierscope.collector.ingest.decode import DecodedTraces, any_value, attributes, decoded  # noqa: F401 - re-exported
from tierscope.collector.ingest.vendors import adapt_attributes, nested_sdk_duplicates, served_tier
from tierscope.instrumentation import conventions as c
from tierscope.errors import Rejected

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
    "router_explored", "escalated_from", "attributes", "service_tier", "processing",
)
QUALITY_COLUMNS = ("trace_id", "span_id", "event_id", "event_time", "score", "source")

TierResolver = Callable[[str, str], str]


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
    request: ExportTraceServiceRequest | DecodedTraces,
    *,
    resolve_tier: TierResolver | None = None,
    keep_content: bool = False,
    out: Normalized | None = None,
) -> Normalized:
    """Append the request's LLM spans and quality events to `out` (a new Normalized by default)."""
    out = out if out is not None else Normalized()
    traces = decoded(request)
    rows: list[tuple] = []
    llm_scopes: list[tuple[str, bytes, bytes]] = []  # to find an SDK's own span nested under a vendor's
    scopes_by_resource = traces.span_scopes or [[""] * len(group) for group in traces.spans]
    for resource, spans, span_attributes, scopes in zip(traces.resources, traces.spans, traces.span_attributes,
                                                        scopes_by_resource):
        context = {
            "service": _text(resource.get(c.SERVICE_NAME), out, "service.name"),
            "environment": _text(_first(resource, c.DEPLOYMENT_ENVIRONMENT), out, "environment"),
            "team": resource.get(c.TEAM),
            "feature": resource.get(c.FEATURE),
        }
        for span, attrs, scope in zip(spans, span_attributes, scopes):
            if c.DUPLICATE_OF in attrs:  # another library's span inside our LLM span: already counted
                out.non_llm += 1
                continue
            attrs = adapt_attributes(scope, attrs)
            row = _fast_row(span, attrs, context, resolve_tier, keep_content)
            if row is None:
                try:
                    row = _one_span(span, attrs, context, out, resolve_tier, keep_content)
                except Rejected as exc:
                    out.reject(str(exc))
                    continue
                if row is None:
                    continue
            rows.append(row)
            llm_scopes.append((scope, span.span_id, span.parent_span_id))
    duplicates = {d.hex() for d in nested_sdk_duplicates(llm_scopes)} if len(llm_scopes) > 1 else set()
    if duplicates:
        at = SPAN_COLUMNS.index("span_id")
        kept = [r for r in rows if r[at] not in duplicates]
        out.non_llm += len(rows) - len(kept)
        rows = kept
    for name, values in zip(SPAN_COLUMNS, zip(*rows)):
        out.spans[name].extend(values)
    return out


def _ids(span: Any) -> tuple[str, str, str]:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        raise Rejected("trace_id must be 16 bytes, not all zero")
    if len(span.span_id) != 8 or not any(span.span_id):
        raise Rejected("span_id must be 8 bytes, not all zero")
    if len(span.parent_span_id) not in (0, 8):
        raise Rejected("parent_span_id must be empty or 8 bytes")
    return span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex()


def _one_span(span: Any, attrs: dict[str, Any], context: dict[str, Any], out: Normalized,
              resolve_tier: TierResolver | None, keep_content: bool) -> tuple | None:
    """The general path: one span's row (SPAN_COLUMNS order), or None for a quality event or a non-LLM span."""
    if span.name == c.QUALITY_SPAN_NAME and c.QUALITY_TARGET_SPAN_ID in attrs:
        _quality_event(span, attrs, out)
        return None
    if not is_llm_span(attrs):
        out.non_llm += 1
        return None
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
    propensity = _propensity(attrs.get(c.ROUTER_PROPENSITY))

    extra = {}
    for key, value in attrs.items():
        if key in _EXTRACTED or (not keep_content and _is_content(key)):
            continue
        if len(extra) >= MAX_ATTRIBUTES:
            out.warn(f"more than {MAX_ATTRIBUTES} extra attributes; the rest were dropped")
            break
        extra[key[:MAX_ATTRIBUTE_CHARS]] = str(value)[:MAX_ATTRIBUTE_CHARS]

    return (
        trace_id, span_id, parent_span_id, span.name[:MAX_DIMENSION_CHARS], span.start_time_unix_nano, end,
        _STATUS.get(span.status.code, "UNSET"), _text(attrs.get(c.ERROR_TYPE), out, "error.type"),
        context["service"], context["environment"], _text(attrs.get(c.ROLE), out, "role"), tier,
        _text(attrs.get(c.TEAM) or context["team"], out, "team"),
        _text(attrs.get(c.FEATURE) or context["feature"], out, "feature"),
        _text(attrs.get(c.AGENT_NAME), out, "gen_ai.agent.name"),
        _text(attrs.get(c.CONVERSATION_ID), out, "gen_ai.conversation.id"),
        _text(_first(attrs, c.OPERATION_KEYS) or "chat", out, "operation").lower(),
        provider, request_model, response_model, model,
        input_tokens, output_tokens, cache_read, cache_write, reasoning,
        score, _text(attrs.get(c.QUALITY_SOURCE), out, "quality source") if score is not None else "",
        _text(attrs.get(c.ROUTER_POLICY_VERSION), out, "policy version"), propensity,
        attrs.get(c.ROUTER_EXPLORED) is True, _text(attrs.get(c.ROUTER_ESCALATED_FROM), out, "escalated_from"),
        extra, *served_tier(attrs),
    )


def _propensity(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1:
        return float(value)
    return None


# --- the fast path ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Plan:
    """What a span with these attribute keys (in this order) reads: the spellings present, in
    priority order, and its extra attributes as (stored key, key)."""

    operation: tuple[str, ...]
    request_model: tuple[str, ...]
    model: tuple[str, ...]
    provider: tuple[str, ...]
    tokens: tuple[tuple[str, ...], ...]  # input, output, cache read, cache write, reasoning
    extras: tuple[tuple[str, str], ...]


_PLANS: dict[bool, dict[tuple[str, ...], _Plan | None]] = {False: {}, True: {}}  # by keep_content, then keys
_UNPLANNED = object()
_MAX_PLANS = 4096
_TOKEN_KEYS = (c.INPUT_TOKENS_KEYS, c.OUTPUT_TOKENS_KEYS, c.CACHE_READ_KEYS, c.CACHE_WRITE_KEYS, c.REASONING_KEYS)
_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)


def _plan(keys: tuple[str, ...], keep_content: bool) -> _Plan | None:
    """None when spans with these keys always take the general path (quality events, too many extras)."""
    if c.QUALITY_TARGET_SPAN_ID in keys:
        return None
    present = set(keys)

    def spellings(candidates: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k for k in candidates if k in present)

    extras: dict[str, str] = {}
    for key in keys:
        if key in _EXTRACTED or (not keep_content and _is_content(key)):
            continue
        if len(extras) >= MAX_ATTRIBUTES:
            return None
        extras[key[:MAX_ATTRIBUTE_CHARS]] = key
    return _Plan(spellings(c.OPERATION_KEYS), spellings(c.REQUEST_MODEL_KEYS), spellings(c.MODEL_KEYS),
                 spellings(c.PROVIDER_KEYS), tuple(spellings(k) for k in _TOKEN_KEYS), tuple(extras.items()))


def _pick(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """`_first` over spellings known to be present."""
    for key in keys:
        value = attrs[key]
        if value is not None and value != "":
            return value
    return None


def _plain(value: Any) -> str | None:
    """`_text` when it would not warn; None when it would (the general path then handles the span)."""
    if value is None:
        return ""
    if type(value) is not str:
        value = str(value)
    return value if len(value) <= MAX_DIMENSION_CHARS else None


def _attribute_text(value: Any) -> str:
    """`str(value)[:MAX_ATTRIBUTE_CHARS]`, without the calls for the common short string."""
    if value.__class__ is str and len(value) <= MAX_ATTRIBUTE_CHARS:
        return value
    return str(value)[:MAX_ATTRIBUTE_CHARS]


def _fast_row(span: Any, attrs: dict[str, Any], context: dict[str, Any], resolve_tier: TierResolver | None,
              keep_content: bool) -> tuple | None:
    """`_one_span`'s row for the common span, or None: then `_one_span` decides (and warns, rejects...)."""
    plans = _PLANS[keep_content]
    keys = tuple(attrs)
    plan = plans.get(keys, _UNPLANNED)
    if plan is _UNPLANNED:
        if len(plans) >= _MAX_PLANS:  # attribute names are the client's: bound what they cost us
            plans.clear()
        plan = plans[keys] = _plan(keys, keep_content)
    if plan is None:
        return None
    operation = _pick(attrs, plan.operation)
    if type(operation) is not str or len(operation) > MAX_DIMENSION_CHARS:
        return None
    operation = operation.lower()
    if operation not in LLM_OPERATIONS:
        return None
    trace_id, span_id, parent_span_id = span.trace_id, span.span_id, span.parent_span_id
    if (len(trace_id) != 16 or trace_id == _ZERO_TRACE or len(span_id) != 8 or span_id == _ZERO_SPAN
            or len(parent_span_id) not in (0, 8)):
        return None
    start = span.start_time_unix_nano
    if not start:
        return None
    end = max(span.end_time_unix_nano, start)

    tokens = []
    for spellings in plan.tokens:
        value = _pick(attrs, spellings) if spellings else None
        if value is None:
            value = 0
        elif type(value) is not int or value < 0 or value > MAX_TOKENS:
            return None
        tokens.append(value)
    input_tokens, output_tokens, cache_read, cache_write, reasoning = tokens
    if cache_read + cache_write > input_tokens:
        input_tokens += cache_read + cache_write
    if reasoning > output_tokens:
        output_tokens += reasoning

    request_model = _plain(_pick(attrs, plan.request_model))
    response_model = _plain(attrs.get(c.RESPONSE_MODEL))
    if request_model is None or response_model is None:
        return None
    model = response_model or request_model or _plain(_pick(attrs, plan.model))
    provider = _plain(_pick(attrs, plan.provider))
    if model is None or provider is None:
        return None
    provider = provider.lower()
    tier = str(attrs.get(c.TIER) or "").lower()
    if tier not in c.TIERS:
        if tier:
            return None
        tier = resolve_tier(model, provider) if resolve_tier and model else ""

    score = attrs.get(c.QUALITY_SCORE)
    if score is not None:
        score = _score(score)
        if score is None:
            return None
    texts = (attrs.get(c.ERROR_TYPE), attrs.get(c.ROLE), attrs.get(c.TEAM) or context["team"],
             attrs.get(c.FEATURE) or context["feature"], attrs.get(c.AGENT_NAME), attrs.get(c.CONVERSATION_ID),
             attrs.get(c.QUALITY_SOURCE) if score is not None else None, attrs.get(c.ROUTER_POLICY_VERSION),
             attrs.get(c.ROUTER_ESCALATED_FROM))
    texts = tuple(map(_plain, texts))
    if None in texts:
        return None
    error_type, role, team, feature, agent_name, conversation_id, quality_source, policy_version, escalated_from = texts
    extra = {stored: _attribute_text(attrs[key]) for stored, key in plan.extras}
    return (
        trace_id.hex(), span_id.hex(), parent_span_id.hex(), span.name[:MAX_DIMENSION_CHARS], start, end,
        _STATUS.get(span.status.code, "UNSET") if span.HasField("status") else "UNSET", error_type, context["service"], context["environment"], role, tier,
        team, feature, agent_name, conversation_id, operation, provider, request_model, response_model, model,
        input_tokens, output_tokens, cache_read, cache_write, reasoning, score, quality_source, policy_version,
        _propensity(attrs.get(c.ROUTER_PROPENSITY)), attrs.get(c.ROUTER_EXPLORED) is True, escalated_from, extra,
        *served_tier(attrs),
    )


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
