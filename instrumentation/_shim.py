"""What every SDK shim does around a ``create`` call, whatever the vendor.

Start a GenAI span from the request's keyword arguments, make it current while the SDK sends the
request, then either record the response's model, id and usage and end the span, or hand back
the stream wrapped so the span ends when the stream does. The vendor modules supply a
:class:`ShimSpec`: how to read usage from a response and from stream events.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from opentelemetry.util.types import AttributeValue

from ._guard import swallow
from ._llm_call import LLMCall, TokenUsage, current_llm_call, start_llm_call
from ._patching import Patch
from ._streams import AsyncObservedStream, ObservedStream, StreamReader

__all__ = ["ShimSpec", "field", "finish_response", "server_attributes", "start_call", "wrap_async", "wrap_sync"]


def field(obj: object, name: str) -> Any:
    """``obj.name`` or ``obj[name]`` (SDK models and plain dicts alike), ``None`` if absent."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


@dataclass(frozen=True)
class ShimSpec:
    """How one SDK's responses and streams report the model, response id and token usage."""

    provider: str
    sdk: str
    """The SDK's module, whose ``Stream`` and ``AsyncStream`` a streamed call returns."""
    usage_of: Callable[[object], TokenUsage | None]
    new_reader: Callable[[], StreamReader]
    operation: str = "chat"
    provider_by_client: Mapping[str, str] = dataclass_field(default_factory=dict)
    """Semconv provider names by SDK client class name, e.g. ``AzureOpenAI`` -> ``azure.ai.openai``;
    the ``Async`` twin of each client (``AsyncAzureOpenAI``) is looked up under the same name."""
    service_tier_of: Callable[[object], object] = lambda response: None
    """The service tier a response reports, recorded under ``service_tier_key``."""
    service_tier_key: str = ""
    request_tier_key: str = ""
    """Where the request's ``service_tier`` argument is recorded ("" for an SDK that has none)."""

    def provider_for(self, resource: object) -> str:
        client = field(resource, "_client")
        return self.provider_by_client.get(type(client).__name__.removeprefix("Async"), self.provider)

    def streams(self) -> tuple[type, type]:
        """The SDK's ``Stream`` and ``AsyncStream`` (it is imported by then: its methods are patched)."""
        sdk = sys.modules[self.sdk]
        return sdk.Stream, sdk.AsyncStream


def server_attributes(resource: object) -> dict[str, AttributeValue]:
    """``server.address``/``server.port`` from the SDK client's ``base_url`` (semconv), if readable."""
    url = field(field(resource, "_client"), "base_url")
    host, port, scheme = field(url, "host"), field(url, "port"), field(url, "scheme")
    if not isinstance(host, str) or not host:
        return {}
    attributes: dict[str, AttributeValue] = {"server.address": host}
    if not isinstance(port, int):
        port = {"https": 443, "http": 80}.get(scheme) if isinstance(scheme, str) else None
    if isinstance(port, int):
        attributes["server.port"] = port
    return attributes


def start_call(spec: ShimSpec, resource: object, kwargs: dict[str, Any]) -> LLMCall:
    """Start the span of a call to ``resource`` with the request ``kwargs``. Never raises."""
    model = kwargs.get("model")
    provider = spec.provider
    attributes: dict[str, AttributeValue] = {}
    with swallow("reading the request"):
        provider = spec.provider_for(resource)
        attributes = server_attributes(resource)
        if spec.request_tier_key and isinstance(asked := kwargs.get("service_tier"), str) and asked:
            attributes[spec.request_tier_key] = asked
    return start_llm_call(
        model=model if isinstance(model, str) else None,
        provider=provider,
        operation=spec.operation,
        attributes=attributes,
    )


def finish_response(spec: ShimSpec, call: LLMCall, result: Any, *, owned: bool = True) -> Any:
    """Record ``result`` on ``call``, or wrap a stream to record it when read. Returns what the caller gets.

    An ``owned`` call is ended here (or when its stream ends); one that belongs to an enclosing
    ``llm_call()`` block is left for that block to end.
    """
    observed: ObservedStream | AsyncObservedStream | None = None
    with swallow("wrapping a stream"):
        stream, async_stream = spec.streams()
        if isinstance(result, stream):
            observed = ObservedStream(result, call, spec.new_reader(), owned=owned)
        elif isinstance(result, async_stream):
            observed = AsyncObservedStream(result, call, spec.new_reader(), owned=owned)
    if observed is not None:
        return observed
    # A parsed response; or a raw one (``with_raw_response``), which has no usage to read.
    with swallow("recording a response"):
        call.set_response_model(field(result, "model"))
        call.set_response_id(field(result, "id"))
        if spec.service_tier_key:
            call.set_service_tier(spec.service_tier_key, spec.service_tier_of(result))
        if (usage := spec.usage_of(field(result, "usage"))) is not None:
            call.record_token_usage(usage)
    if owned:
        call.end()
    return result


def wrap_sync(spec: ShimSpec) -> Callable[[Callable[..., Any], Patch], Callable[..., Any]]:
    """A ``make_wrapper`` for :func:`patch_method` around a sync ``create``.

    Inside an ``llm_call()`` block the SDK call adds to that block's span (no second span counting
    the same tokens); the block records any error and ends the span.
    """

    def make(original: Callable[..., Any], patch: Patch) -> Callable[..., Any]:
        @functools.wraps(original)
        def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not patch.active:
                return original(self, *args, **kwargs)
            if (enclosing := current_llm_call()) is not None:
                return finish_response(spec, enclosing, original(self, *args, **kwargs), owned=False)
            call = start_call(spec, self, kwargs)
            with call.activated(end_on_error=True):
                result = original(self, *args, **kwargs)
            return finish_response(spec, call, result)

        return traced

    return make


def wrap_async(spec: ShimSpec) -> Callable[[Callable[..., Any], Patch], Callable[..., Any]]:
    """A ``make_wrapper`` for :func:`patch_method` around an async ``create`` (see :func:`wrap_sync`)."""

    def make(original: Callable[..., Any], patch: Patch) -> Callable[..., Any]:
        @functools.wraps(original)
        async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not patch.active:
                return await original(self, *args, **kwargs)
            if (enclosing := current_llm_call()) is not None:
                return finish_response(spec, enclosing, await original(self, *args, **kwargs), owned=False)
            call = start_call(spec, self, kwargs)
            with call.activated(end_on_error=True):
                result = await original(self, *args, **kwargs)
            return finish_response(spec, call, result)

        return traced

    return make
