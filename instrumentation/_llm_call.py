"""One LLM request as a GenAI CLIENT span: ``llm_call()`` for any client, and the shims' building block.

The span follows the OpenTelemetry GenAI conventions (name ``"{operation} {model}"``, kind CLIENT,
``gen_ai.*`` attributes, ``gen_ai.usage.input_tokens`` including cached tokens) plus tierscope's
role, team, feature and tier. An error from the call is recorded (status ERROR, ``error.type``,
an exception event) and re-raised unchanged; an error in the telemetry itself is swallowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, format_span_id, format_trace_id
from opentelemetry.util.types import AttributeValue

from ._decisions import claim
from ._guard import swallow
from ._quality import set_quality
from ._roles import current_role
from ._roles import role as role_scope
from ._tier_map import check_tier, resolve_tier
from ._tracing import get_tracer
from .conventions import (
    ERROR_TYPE,
    DEADLINE,
    FEATURE,
    BATCH,
    OPERATION_NAME,
    PROCESSING,
    PROVIDER_NAME,
    REQUEST_MODEL,
    RESPONSE_ID,
    RESPONSE_MODEL,
    ROLE,
    TEAM,
    TIER,
    USAGE_CACHE_CREATION_INPUT_TOKENS,
    USAGE_CACHE_READ_INPUT_TOKENS,
    USAGE_INPUT_TOKENS,
    USAGE_OUTPUT_TOKENS,
    USAGE_REASONING_OUTPUT_TOKENS,
)

__all__ = ["LLMCall", "TokenUsage", "current_llm_call", "llm_call", "start_llm_call"]

# The LLM call in progress, so that a shim called inside ``llm_call()`` adds to that call's span
# instead of counting the same tokens on a second one.
_CALL_KEY = context.create_key("tierscope.llm_call")
_NO_ROLE = nullcontext()


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one call in semconv terms: ``input_tokens`` includes cache reads and writes."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None


_USAGE_ATTRIBUTES = {
    "input_tokens": USAGE_INPUT_TOKENS,
    "output_tokens": USAGE_OUTPUT_TOKENS,
    "cache_read_tokens": USAGE_CACHE_READ_INPUT_TOKENS,
    "cache_write_tokens": USAGE_CACHE_CREATION_INPUT_TOKENS,
    "reasoning_tokens": USAGE_REASONING_OUTPUT_TOKENS,
}


class LLMCall:
    """Handle on one LLM call's span: record what the response says, then end it (once)."""

    __slots__ = ("_span", "_provider", "_request_model", "_explicit_tier", "_ended")

    def __init__(
        self, span: trace.Span, *, provider: str, request_model: str | None, explicit_tier: str | None
    ) -> None:
        self._span = span
        self._provider = provider
        self._request_model = request_model
        self._explicit_tier = explicit_tier
        self._ended = False

    @property
    def span(self) -> trace.Span:
        """The underlying span, for attributes tierscope does not model."""
        return self._span

    @property
    def trace_id(self) -> str:
        """32 lowercase hex digits; keep it (with ``span_id``) to send feedback later."""
        return format_trace_id(self._span.get_span_context().trace_id)

    @property
    def span_id(self) -> str:
        """16 lowercase hex digits."""
        return format_span_id(self._span.get_span_context().span_id)

    def record_usage(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        """Record token counts; ``input_tokens`` is the total input, cached tokens included (semconv)."""
        self.record_token_usage(
            TokenUsage(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens)
        )

    def record_token_usage(self, usage: TokenUsage) -> None:
        """Record the counts ``usage`` has; one that is not a non-negative int is dropped and logged."""
        with swallow("recording token usage"):
            dropped, counts = [], {}
            for field, key in _USAGE_ATTRIBUTES.items():
                value = getattr(usage, field)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    dropped.append(f"{field}={value!r}")
                    continue
                counts[key] = value
            if counts:
                self._span.set_attributes(counts)  # one lock and one validation pass, not one per count
            if dropped:
                raise TypeError(f"token counts are non-negative ints; dropped {', '.join(dropped)}")

    def set_response_model(self, model: str | None) -> None:
        """Record the model that answered; it may refine the tier when the request model was an alias."""
        with swallow("recording the response model"):
            if not model:
                return
            self._span.set_attribute(RESPONSE_MODEL, model)
            if self._explicit_tier is None:
                tier = resolve_tier([self._request_model, model], self._provider)
                if tier is not None:
                    self._span.set_attribute(TIER, tier)

    def set_service_tier(self, attribute: str, tier: object) -> None:
        """Record the service tier the provider reported (``attribute`` names whose spelling: OpenAI's
        response or request tier, Anthropic's ``usage.service_tier``); the collector prices by it."""
        with swallow("recording the service tier"):
            if isinstance(tier, str) and tier:
                self._span.set_attribute(attribute, tier)

    def set_response_id(self, response_id: str | None) -> None:
        with swallow("recording the response id"):
            if response_id:
                self._span.set_attribute(RESPONSE_ID, response_id)

    def record_quality(self, score: float, source: str) -> None:
        """Grade this call in [0, 1] (``ValueError`` outside it), e.g. from a schema check or a judge."""
        set_quality(self._span, score, source)

    def record_error(self, error: BaseException) -> None:
        """Mark the call failed with ``error``; the caller re-raises it."""
        with swallow("recording an error"):
            self._span.set_attribute(ERROR_TYPE, type(error).__qualname__)
            self._span.record_exception(error)
            self._span.set_status(Status(StatusCode.ERROR, str(error) or type(error).__qualname__))

    def end(self) -> None:
        """End the span; later calls do nothing."""
        if self._ended:
            return
        self._ended = True
        with swallow("ending an LLM span"):
            self._span.end()

    def activated(self, *, end_on_error: bool = False) -> _Activation:
        """Make this call current: spans started inside (HTTP, an SDK's own) nest under its span.

        ``end_on_error``: an exception raised inside the block marks the call failed and ends it (the
        block that started the call owns it); the exception still propagates.
        """
        return _Activation(self, end_on_error)


class _Activation:
    """``with call.activated():`` -- a class rather than a generator, as it runs on every call."""

    __slots__ = ("_call", "_end_on_error", "_token")

    def __init__(self, call: LLMCall, end_on_error: bool) -> None:
        self._call = call
        self._token: object | None = None
        self._end_on_error = end_on_error

    def __enter__(self) -> LLMCall:
        with swallow("activating an LLM span"):
            call = self._call
            self._token = context.attach(context.set_value(_CALL_KEY, call, trace.set_span_in_context(call._span)))
        return self._call

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None and self._end_on_error:
            self._call.record_error(exc)
            self._call.end()
        if self._token is not None:
            with swallow("deactivating an LLM span"):
                context.detach(self._token)  # type: ignore[arg-type]


def current_llm_call(ctx: context.Context | None = None) -> LLMCall | None:
    """The tierscope LLM call whose block or request is running in ``ctx`` (default: now), if any."""
    call = context.get_value(_CALL_KEY, ctx)
    return call if isinstance(call, LLMCall) else None


def start_llm_call(
    *,
    model: str | None,
    provider: str,
    operation: str = "chat",
    tier: str | None = None,
    attributes: dict[str, AttributeValue] | None = None,
    processing: str | None = None,
) -> LLMCall:
    """Start (but do not activate) the span of one call. Never raises: a failure gives a no-op span."""
    explicit = tier
    span: trace.Span = trace.INVALID_SPAN
    with swallow("starting an LLM span"):
        scope = current_role()
        if explicit is None and scope is not None:
            explicit = scope.tier
        start: dict[str, AttributeValue] = {OPERATION_NAME: operation, PROVIDER_NAME: provider}
        if model:
            start[REQUEST_MODEL] = model
        if scope is not None:
            start[ROLE] = scope.role
            if scope.team is not None:
                start[TEAM] = scope.team
            if scope.feature is not None:
                start[FEATURE] = scope.feature
            if scope.deadline is not None:
                start[DEADLINE] = scope.deadline
        if processing is not None:
            start[PROCESSING] = processing
        if (resolved := resolve_tier([model], provider, explicit)) is not None:
            start[TIER] = resolved
        if (decision := claim(model, scope.role if scope is not None else None)) is not None:
            start.update(decision.attributes())  # a Router.pick() made for this call
            start.setdefault(ROLE, decision.role)
        start.update(attributes or {})
        name = f"{operation} {model}" if model else operation
        span = get_tracer().start_span(name, kind=SpanKind.CLIENT, attributes=start)
    return LLMCall(span, provider=provider, request_model=model, explicit_tier=explicit)


@contextmanager
def llm_call(
    *,
    model: str,
    provider: str,
    operation: str = "chat",
    role: str | None = None,
    tier: str | None = None,
    processing: str | None = None,
) -> Iterator[LLMCall]:
    """Trace one LLM call made with any client; the span is current inside the block.

    >>> with llm_call(model="llama3.1:8b", provider="ollama") as call:
    ...     reply = my_client.generate(prompt)
    ...     call.record_usage(input_tokens=reply.prompt_eval_count, output_tokens=reply.eval_count)

    ``role`` names the agent role for this call only (team and feature still come from the
    enclosing ``role()``); ``tier`` pins the tier. An unknown tier raises ``ValueError``.
    ``processing="batch"`` marks Batch API work, priced at the batch rate; any other value raises
    ``ValueError``.
    """
    check_tier(tier)
    if processing not in (None, BATCH):
        raise ValueError(f"processing must be {BATCH!r} or None, got {processing!r}")
    with role_scope(role) if role is not None else _NO_ROLE:
        call = start_llm_call(model=model, provider=provider, operation=operation, tier=tier, processing=processing)
        with call.activated():
            try:
                yield call
            except BaseException as error:
                call.record_error(error)
                raise
            finally:
                call.end()
