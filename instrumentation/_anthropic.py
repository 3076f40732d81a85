"""Shim for the ``anthropic`` SDK: ``messages.create`` (sync/async, streamed or not) and ``messages.stream``.

Anthropic's ``usage.input_tokens`` EXCLUDES cached tokens, so per semconv we emit
``input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens``, with the cache
read and creation counts separately; ``output_tokens_details.thinking_tokens`` is the reasoning.
A stream reports usage in ``message_start`` and, cumulatively, in ``message_delta``. The
``usage.service_tier`` ("standard", "priority", "batch") is recorded as
``anthropic.usage.service_tier``: the collector prices "batch" at the batch rate.

anthropic>=2 has its own OpenTelemetry tracing, on by default: its ``anthropic.messages.create``
CLIENT span nests under ours, with the same usage. ``RoleSpanProcessor`` marks it
``tierscope.duplicate_of`` so the collector counts the call once.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ._guard import swallow
from ._llm_call import LLMCall, TokenUsage, current_llm_call
from ._patching import Patch, patch_method, unpatch
from ._shim import ShimSpec, field, start_call, wrap_async, wrap_sync
from .conventions import ANTHROPIC_SERVICE_TIER

__all__ = ["anthropic_usage", "instrument_anthropic", "uninstrument_anthropic"]

_GROUP = "anthropic"
_MODULE = "anthropic.resources.messages.messages"
_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def anthropic_usage(usage: object) -> TokenUsage | None:
    """Semconv token counts from an Anthropic ``Usage`` (or ``MessageDeltaUsage``, or its dict)."""
    if usage is None:
        return None
    uncached = field(usage, "input_tokens")
    cache_read = field(usage, "cache_read_input_tokens")
    cache_write = field(usage, "cache_creation_input_tokens")
    total_input = None if uncached is None else uncached + (cache_read or 0) + (cache_write or 0)
    return TokenUsage(
        input_tokens=total_input,
        output_tokens=field(usage, "output_tokens"),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=field(field(usage, "output_tokens_details"), "thinking_tokens"),
    )


class _AnthropicStreamReader:
    """Merges ``message_start`` usage with the cumulative counts of later ``message_delta`` events."""

    __slots__ = ("_model", "_id", "_usage", "_tier")

    def __init__(self) -> None:
        self._model: str | None = None
        self._id: str | None = None
        self._usage: dict[str, Any] = {}
        self._tier: object = None

    def _merge(self, usage: object) -> None:
        for name in _USAGE_FIELDS:
            if (value := field(usage, name)) is not None:
                self._usage[name] = value
        if (details := field(usage, "output_tokens_details")) is not None:
            self._usage["output_tokens_details"] = details

    def observe(self, event: object) -> None:
        kind = field(event, "type")
        if kind == "message_start":
            message = field(event, "message")
            self._model = field(message, "model")
            self._id = field(message, "id")
            self._tier = field(field(message, "usage"), "service_tier")
            self._merge(field(message, "usage"))
        elif kind == "message_delta":
            self._merge(field(event, "usage"))

    def finish(self, call: LLMCall) -> None:
        call.set_response_model(self._model)
        call.set_response_id(self._id)
        call.set_service_tier(ANTHROPIC_SERVICE_TIER, self._tier)
        if self._usage and (usage := anthropic_usage(self._usage)) is not None:
            call.record_token_usage(usage)


def _service_tier(message: object) -> object:
    return field(field(message, "usage"), "service_tier")


def _record_snapshot(call: LLMCall, message_stream: object) -> None:
    """Record the usage a ``MessageStream`` accumulated, if it got as far as ``message_start``."""
    try:
        message = field(message_stream, "current_message_snapshot")
    except AssertionError:  # closed before the first event: nothing to record
        return
    call.set_response_model(field(message, "model"))
    call.set_response_id(field(message, "id"))
    call.set_service_tier(ANTHROPIC_SERVICE_TIER, _service_tier(message))
    if (usage := anthropic_usage(field(message, "usage"))) is not None:
        call.record_token_usage(usage)


class _StreamManager:
    """Wraps ``messages.stream(...)``'s manager: the span runs from ``__enter__`` to ``__exit__``.

    Inside an ``llm_call()`` block the stream's usage goes on that block's span instead.
    """

    def __init__(self, manager: Any, start: Callable[[], LLMCall], api_error: type[BaseException]) -> None:
        self._manager = manager
        self._start = start
        self._api_error = api_error
        self._call: LLMCall | None = None
        self._owned = True
        self._stream: Any = None

    def _open(self) -> LLMCall | None:
        """Our own call, started and to be activated; ``None`` when an enclosing call adopts the stream."""
        enclosing = current_llm_call()
        self._owned = enclosing is None
        self._call = self._start() if enclosing is None else enclosing
        return self._call if self._owned else None

    def _close(self, error: BaseException | None) -> None:
        call = self._call
        if call is None:
            return
        with swallow("recording a streamed message"):
            _record_snapshot(call, self._stream)
        if not self._owned:
            return
        if isinstance(error, self._api_error):  # the stream failed; an error in the caller's block did not
            call.record_error(error)
        call.end()

    def __enter__(self) -> Any:
        call = self._open()
        if call is None:
            self._stream = self._manager.__enter__()
            return self._stream
        with call.activated(end_on_error=True):
            self._stream = self._manager.__enter__()
        return self._stream

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self._manager.__exit__(exc_type, exc, tb)
        finally:
            self._close(exc)

    async def __aenter__(self) -> Any:
        call = self._open()
        if call is None:
            self._stream = await self._manager.__aenter__()
            return self._stream
        with call.activated(end_on_error=True):
            self._stream = await self._manager.__aenter__()
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self._manager.__aexit__(exc_type, exc, tb)
        finally:
            self._close(exc)

    def __getattr__(self, name: str) -> Any:
        if name == "_manager":
            raise AttributeError(name)
        return getattr(self._manager, name)


def _wrap_stream(
    spec: ShimSpec, api_error: type[BaseException]
) -> Callable[[Callable[..., Any], Patch], Callable[..., Any]]:
    def make(original: Callable[..., Any], patch: Patch) -> Callable[..., Any]:
        @functools.wraps(original)
        def traced_stream(self: Any, *args: Any, **kwargs: Any) -> Any:
            manager = original(self, *args, **kwargs)
            if not patch.active:
                return manager
            return _StreamManager(manager, functools.partial(start_call, spec, self, kwargs), api_error)

        return traced_stream

    return make


_SPEC = ShimSpec(
    provider="anthropic",
    sdk="anthropic",
    usage_of=anthropic_usage,
    new_reader=_AnthropicStreamReader,
    provider_by_client={"AnthropicBedrock": "aws.bedrock", "AnthropicAWS": "aws.bedrock",
                        "AnthropicVertex": "gcp.vertex_ai"},
    service_tier_of=_service_tier,
    service_tier_key=ANTHROPIC_SERVICE_TIER,
)


def instrument_anthropic() -> int:
    """Patch the anthropic SDK (``ImportError`` if it is not installed); returns how many methods were patched."""
    import anthropic

    module = importlib.import_module(_MODULE)
    count = 0
    for class_name, method, make in (
        ("Messages", "create", wrap_sync(_SPEC)),
        ("AsyncMessages", "create", wrap_async(_SPEC)),
        ("Messages", "stream", _wrap_stream(_SPEC, anthropic.APIError)),
        ("AsyncMessages", "stream", _wrap_stream(_SPEC, anthropic.APIError)),
    ):
        owner = getattr(module, class_name, None)
        if owner is not None and hasattr(owner, method):
            count += patch_method(_GROUP, owner, method, make)
    return count


def uninstrument_anthropic() -> int:
    return unpatch(_GROUP)
