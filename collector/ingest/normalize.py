"""OTLP trace requests -> LLM span rows and late-quality events. Pure: no I/O, no clock.

Accepts the GenAI attribute spellings in the wild (see instrumentation/conventions.py): current
OpenTelemetry semconv, its older names, OpenLLMetry's and OpenInference's. Non-LLM spans are
counted and dropped; spans that cannot be trusted are rejected with a reason, and the good spans
of the same request are kept.

One row builder (`_row`) handles every span. Speed comes from `_Plan`: per distinct set of
attribute keys it says once which spellings are present and which keys are extras, so a span
reads only the keys it has; values take a type check on the common case and convert otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tierscope.collector.ingest.decode import (  # noqa: F401 - any_value, attributes re-exported
    DecodedTraces, any_value, attributes, decoded, structural_problem)
from tierscope.collector.ingest.vendors import adapt_attributes, nested_sdk_duplicates, served_tier
from tierscope.errors import Rejected
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
    c.ROUTER_FAILOVER_FROM, c.ROUTER_FAILOVER_REASON, c.DEADLINE,
})

SPAN_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "start_time", "end_time", "status_code",
    "error_type", "service", "environment", "role", "tier", "team", "feature", "agent_name",
    "conversation_id", "operation", "provider", "request_model", "response_model", "model",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "quality_score", "quality_source", "router_policy_version", "router_propensity",
    "router_explored", "escalated_from", "failover_from", "failover_reason", "attributes", "service_tier",
    "processing", "deadline",
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
    plans = _PLANS[keep_content]
    for resource, spans, span_attributes, scopes in zip(traces.resources, traces.spans, traces.span_attributes,
                                                        scopes_by_resource):
        context = _Context(_text(resource.get(c.SERVICE_NAME), out, "service.name"),
                           _text(_first(resource, c.DEPLOYMENT_ENVIRONMENT), out, "environment"),
                           resource.get(c.TEAM), resource.get(c.FEATURE))
        for span, attrs, scope in zip(spans, span_attributes, scopes):
            if c.DUPLICATE_OF in attrs:  # another library's span inside our LLM span: already counted
                out.non_llm += 1
                continue
            attrs = adapt_attributes(scope, attrs)
            problem = structural_problem(span)
            if problem:
                out.reject(problem)
                continue
            keys = tuple(attrs)
            plan = plans.get(keys)
            if plan is None:
                if len(plans) >= _MAX_PLANS:  # attribute names are the client's: bound what they cost us
                    plans.clear()
                plan = plans[keys] = _plan(keys, keep_content)
            try:
                row = _row(span, attrs, plan, context, out, resolve_tier)
            except Rejected as exc:
                out.reject(str(exc))
                continue
            if row is not None:
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


@dataclass(frozen=True, slots=True)
class _Context:
    """What a resource gives each of its spans."""

    service: str
    environment: str
    team: Any
    feature: Any


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a span with these attribute keys (in this order) reads: the spellings present, in
    priority order, and its extra attributes as (stored key, key)."""

    quality_event: bool
    operation: tuple[str, ...]
    request_model: tuple[str, ...]
    model: tuple[str, ...]
    provider: tuple[str, ...]
    tokens: tuple[tuple[str, ...], ...]  # input, output, cache read, cache write, reasoning
    has_tokens: bool  # any input or output count key
    extras: tuple[tuple[str, str], ...]
    extras_cut: bool  # more than MAX_ATTRIBUTES extras: the rest are dropped (with a warning)


_PLANS: dict[bool, dict[tuple[str, ...], _Plan]] = {False: {}, True: {}}  # by keep_content, then keys
_MAX_PLANS = 4096
_TOKEN_KEYS = (c.INPUT_TOKENS_KEYS, c.OUTPUT_TOKENS_KEYS, c.CACHE_READ_KEYS, c.CACHE_WRITE_KEYS, c.REASONING_KEYS)


def _plan(keys: tuple[str, ...], keep_content: bool) -> _Plan:
    present = set(keys)

    def spellings(candidates: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k for k in candidates if k in present)

    extras: dict[str, str] = {}
    cut = False
    for key in keys:
        if key in _EXTRACTED or (not keep_content and _is_content(key)):
            continue
        if len(extras) >= MAX_ATTRIBUTES:
            cut = True
            break
        extras[key[:MAX_ATTRIBUTE_CHARS]] = key
    tokens = tuple(spellings(k) for k in _TOKEN_KEYS)
    return _Plan(c.QUALITY_TARGET_SPAN_ID in present, spellings(c.OPERATION_KEYS), spellings(c.REQUEST_MODEL_KEYS),
                 spellings(c.MODEL_KEYS), spellings(c.PROVIDER_KEYS), tokens, bool(tokens[0] or tokens[1]),
                 tuple(extras.items()), cut)


def _pick(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """`_first` over spellings known to be present."""
    for key in keys:
        value = attrs[key]
        if value is not None and value != "":
            return value
    return None


def _is_llm(attrs: dict[str, Any], plan: _Plan, operation: Any) -> bool:
    if isinstance(operation, str) and operation:
        return operation.lower() in LLM_OPERATIONS
    kind = attrs.get(c.OPENINFERENCE_SPAN_KIND)
    if isinstance(kind, str) and kind:
        return kind.upper() in OPENINFERENCE_LLM_KINDS
    return _pick(attrs, plan.model) is not None and plan.has_tokens and (
        _pick(attrs, plan.tokens[0] + plan.tokens[1]) is not None)


def _count(value: Any, key: str) -> int:
    """A token count as an int in [0, MAX_TOKENS]; raises Rejected naming `key` otherwise."""
    if value.__class__ is int and 0 <= value <= MAX_TOKENS:
        return value
    if isinstance(value, bool):
        raise Rejected(f"{key} is a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise Rejected(f"{key} is not an integer") from None
    if not isinstance(value, int):
        raise Rejected(f"{key} is not an integer")
    if value < 0 or value > MAX_TOKENS:
        raise Rejected(f"{key} out of range [0, {MAX_TOKENS}]")
    return value


def _usage(attrs: dict[str, Any], plan: _Plan) -> list[int]:
    """Input, output, cache read, cache write and reasoning tokens, in semconv's meaning."""
    tokens = []
    for spellings, keys in zip(plan.tokens, _TOKEN_KEYS):
        value = _pick(attrs, spellings) if spellings else None
        tokens.append(0 if value is None else _count(value, keys[0]))
    if tokens[2] + tokens[3] > tokens[0]:
        # Reported the Anthropic way (input excludes cache); semconv's input includes it.
        tokens[0] += tokens[2] + tokens[3]
    if tokens[4] > tokens[1]:
        tokens[1] += tokens[4]
    return tokens


def _attribute_text(value: Any) -> str:
    """`str(value)[:MAX_ATTRIBUTE_CHARS]`, without the calls for the common short string."""
    if value.__class__ is str and len(value) <= MAX_ATTRIBUTE_CHARS:
        return value
    return str(value)[:MAX_ATTRIBUTE_CHARS]


def _row(span: Any, attrs: dict[str, Any], plan: _Plan, context: _Context, out: Normalized,
         resolve_tier: TierResolver | None) -> tuple | None:
    """One span's row (SPAN_COLUMNS order), or None for a quality event or a non-LLM span."""
    if plan.quality_event and span.name == c.QUALITY_SPAN_NAME:
        _quality_event(span, attrs, out)
        return None
    operation = _pick(attrs, plan.operation)
    if not _is_llm(attrs, plan, operation):
        out.non_llm += 1
        return None
    input_tokens, output_tokens, cache_read, cache_write, reasoning = _usage(attrs, plan)
    request_model = _text(_pick(attrs, plan.request_model), out, "model")
    response_model = _text(attrs.get(c.RESPONSE_MODEL), out, "model")
    model = response_model or request_model or _text(_pick(attrs, plan.model), out, "model")
    provider = _text(_pick(attrs, plan.provider), out, "provider").lower()
    tier = str(attrs.get(c.TIER) or "").lower()
    if tier not in c.TIERS:
        if tier:
            out.warn(f"unknown tier {tier[:40]!r} replaced by the model's tier")
        tier = resolve_tier(model, provider) if resolve_tier and model else ""
    raw_score = attrs.get(c.QUALITY_SCORE)
    score = _score(raw_score)
    if score is None and raw_score is not None:
        out.warn(f"{c.QUALITY_SCORE} must be a number in [0, 1]; ignored")
    if plan.extras_cut:
        out.warn(f"more than {MAX_ATTRIBUTES} extra attributes; the rest were dropped")
    start = span.start_time_unix_nano
    return (
        span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name[:MAX_DIMENSION_CHARS], start,
        max(span.end_time_unix_nano, start), _STATUS.get(span.status.code, "UNSET"),
        _text(attrs.get(c.ERROR_TYPE), out, "error.type"), context.service, context.environment,
        _text(attrs.get(c.ROLE), out, "role"), tier, _text(attrs.get(c.TEAM) or context.team, out, "team"),
        _text(attrs.get(c.FEATURE) or context.feature, out, "feature"),
        _text(attrs.get(c.AGENT_NAME), out, "gen_ai.agent.name"),
        _text(attrs.get(c.CONVERSATION_ID), out, "gen_ai.conversation.id"),
        _text(operation or "chat", out, "operation").lower(), provider, request_model, response_model, model,
        input_tokens, output_tokens, cache_read, cache_write, reasoning,
        score, _text(attrs.get(c.QUALITY_SOURCE), out, "quality source") if score is not None else "",
        _text(attrs.get(c.ROUTER_POLICY_VERSION), out, "policy version"), _propensity(attrs.get(c.ROUTER_PROPENSITY)),
        attrs.get(c.ROUTER_EXPLORED) is True, _text(attrs.get(c.ROUTER_ESCALATED_FROM), out, "escalated_from"),
        _text(attrs.get(c.ROUTER_FAILOVER_FROM), out, "failover_from"),
        _text(attrs.get(c.ROUTER_FAILOVER_REASON), out, "failover_reason"),
        {stored: _attribute_text(attrs[key]) for stored, key in plan.extras}, *served_tier(attrs),
        _deadline(attrs.get(c.DEADLINE), out),
    )


def _deadline(value: Any, out: Normalized) -> str:
    """"async" or "interactive" as the span says; another value is dropped with a warning."""
    if value is None or value == "":
        return ""
    if value in c.DEADLINES:
        return value
    out.warn(f"{c.DEADLINE} must be one of {', '.join(c.DEADLINES)}; ignored")
    return ""


def _propensity(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1:
        return float(value)
    return None


def _hex_id(value: Any, length: int, what: str) -> str:
    text = str(value or "").lower()
    if len(text) != length or any(ch not in "0123456789abcdef" for ch in text) or not text.strip("0"):
        raise Rejected(f"{what} must be {length} hex characters")
    return text


def _quality_event(span: Any, attrs: dict[str, Any], out: Normalized) -> None:
    score = _score(attrs.get(c.QUALITY_SCORE))
    if score is None:
        raise Rejected(f"quality event needs {c.QUALITY_SCORE} in [0, 1]")
    trace_id = _hex_id(attrs.get(c.QUALITY_TARGET_TRACE_ID), 32, c.QUALITY_TARGET_TRACE_ID)
    span_id = _hex_id(attrs.get(c.QUALITY_TARGET_SPAN_ID), 16, c.QUALITY_TARGET_SPAN_ID)
    q = out.quality
    q["trace_id"].append(trace_id)
    q["span_id"].append(span_id)
    q["event_id"].append(span.span_id.hex())
    q["event_time"].append(span.start_time_unix_nano or span.end_time_unix_nano)
    q["score"].append(score)
    q["source"].append(_text(attrs.get(c.QUALITY_SOURCE), out, "quality source"))
