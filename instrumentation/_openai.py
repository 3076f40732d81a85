"""Shim for the ``openai`` SDK: Chat Completions and Responses, sync and async, streamed or not.

Patched: ``create`` and ``parse`` of ``chat.completions`` and ``responses`` (the ``.stream()``
helpers call ``create``, so they are covered too). Usage mapping, per semconv:

* Chat: ``prompt_tokens`` (already includes cached) -> input; ``prompt_tokens_details.cached_tokens``
  -> cache read; ``.cache_write_tokens`` -> cache creation; ``completion_tokens`` -> output;
  ``completion_tokens_details.reasoning_tokens`` -> reasoning.
* Responses: the same from ``input_tokens``/``input_tokens_details``/``output_tokens``/``output_tokens_details``.

The service tier that served the call (the response's ``service_tier``, also on stream chunks) is
recorded as ``openai.response.service_tier``, the one asked for as ``openai.request.service_tier``.

A streamed chat completion reports usage only when the request asks for it with
``stream_options={"include_usage": True}``; we do not add that option (it adds a chunk with no
choices, which can break callers), so without it the span has no token counts.
"""

from __future__ import annotations

import importlib

from ._llm_call import LLMCall, TokenUsage
from ._patching import patch_method, unpatch
from ._shim import ShimSpec, field, wrap_async, wrap_sync
from .conventions import OPENAI_REQUEST_SERVICE_TIER, OPENAI_RESPONSE_SERVICE_TIER

__all__ = ["instrument_openai", "openai_usage", "uninstrument_openai"]

_GROUP = "openai"

# (module, class, method, is_async)
_TARGETS = (
    ("openai.resources.chat.completions.completions", "Completions", "create", False),
    ("openai.resources.chat.completions.completions", "Completions", "parse", False),
    ("openai.resources.chat.completions.completions", "AsyncCompletions", "create", True),
    ("openai.resources.chat.completions.completions", "AsyncCompletions", "parse", True),
    ("openai.resources.responses.responses", "Responses", "create", False),
    ("openai.resources.responses.responses", "Responses", "parse", False),
    ("openai.resources.responses.responses", "AsyncResponses", "create", True),
    ("openai.resources.responses.responses", "AsyncResponses", "parse", True),
)


def openai_usage(usage: object) -> TokenUsage | None:
    """Semconv token counts from an OpenAI ``CompletionUsage`` or ``ResponseUsage`` (or its dict)."""
    if usage is None:
        return None
    if field(usage, "prompt_tokens") is not None or field(usage, "completion_tokens") is not None:
        input_tokens, output_tokens = field(usage, "prompt_tokens"), field(usage, "completion_tokens")
        input_details, output_details = field(usage, "prompt_tokens_details"), field(usage, "completion_tokens_details")
    else:
        input_tokens, output_tokens = field(usage, "input_tokens"), field(usage, "output_tokens")
        input_details, output_details = field(usage, "input_tokens_details"), field(usage, "output_tokens_details")
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=field(input_details, "cached_tokens"),
        cache_write_tokens=field(input_details, "cache_write_tokens"),
        reasoning_tokens=field(output_details, "reasoning_tokens"),
    )


class _OpenAIStreamReader:
    """Chat chunks carry ``model``/``id`` and, last, ``usage``; Responses events carry a ``response``."""

    __slots__ = ("_model", "_id", "_usage", "_tier")

    def __init__(self) -> None:
        self._model: str | None = None
        self._id: str | None = None
        self._usage: object = None
        self._tier: object = None

    def observe(self, event: object) -> None:
        source = field(event, "response") or event  # Responses API: response.created/.completed
        self._model = field(source, "model") or self._model
        self._id = field(source, "id") or self._id
        self._usage = field(source, "usage") or self._usage
        self._tier = field(source, "service_tier") or self._tier

    def finish(self, call: LLMCall) -> None:
        call.set_response_model(self._model)
        call.set_response_id(self._id)
        call.set_service_tier(OPENAI_RESPONSE_SERVICE_TIER, self._tier)
        if (usage := openai_usage(self._usage)) is not None:
            call.record_token_usage(usage)


_SPEC = ShimSpec(
    provider="openai",
    sdk="openai",
    usage_of=openai_usage,
    new_reader=_OpenAIStreamReader,
    provider_by_client={"AzureOpenAI": "azure.ai.openai", "BedrockOpenAI": "aws.bedrock"},
    service_tier_of=lambda response: field(response, "service_tier"),
    service_tier_key=OPENAI_RESPONSE_SERVICE_TIER,
    request_tier_key=OPENAI_REQUEST_SERVICE_TIER,
)


def instrument_openai() -> int:
    """Patch the openai SDK (``ImportError`` if it is not installed); returns how many methods were patched."""
    importlib.import_module(_SPEC.sdk)  # ImportError if it is not installed
    count = 0
    for module_name, class_name, method, is_async in _TARGETS:
        try:
            owner = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue  # another SDK version: patch what exists
        if hasattr(owner, method):
            count += patch_method(_GROUP, owner, method, (wrap_async if is_async else wrap_sync)(_SPEC))
    return count


def uninstrument_openai() -> int:
    return unpatch(_GROUP)
