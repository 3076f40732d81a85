"""The fake provider's wire shapes: what OpenAI's Chat Completions and Responses APIs and Anthropic's
Messages API send back, as whole responses and as streamed events, for a decided `Answer` with
chosen `FakeUsage` token counts (in OpenTelemetry semconv terms; each API gets its own usage shape)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from itertools import count
from typing import Any

USAGE_HEADER = "x-fake-usage"


@dataclass(frozen=True)
class FakeUsage:
    """Token counts in semconv terms (``input`` includes cache reads and writes); ``None``: derive from the request."""

    input: int | None = None
    output: int | None = None
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0

    def header_value(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name) is not None)

    @classmethod
    def parse(cls, text: str, base: FakeUsage | None = None) -> FakeUsage:
        """Parse an ``x-fake-usage`` value over ``base``; ``ValueError`` says what is wrong."""
        values: dict[str, int] = {}
        names = {f.name for f in fields(cls)}
        for entry in filter(None, (part.strip() for part in text.split(","))):
            key, _, raw = entry.partition("=")
            key = key.strip()
            if key not in names or not raw.strip().isdigit():
                raise ValueError(f"bad {USAGE_HEADER} entry {entry!r}; keys are {sorted(names)}, values ints")
            values[key] = int(raw)
        return replace(base or cls(), **values)


@dataclass(frozen=True)
class Answer:
    """What the fake will answer one request with, decided before anything is written."""

    api: str
    model: str
    reply: str
    usage: FakeUsage
    id: str
    created: int
    stream: bool
    include_usage: bool
    stream_error_after: int | None
    service_tier: str | None = None


# --- Wire shapes -----------------------------------------------------------------------------------
Event = tuple[str | None, dict[str, Any] | str]


def _words(reply: str) -> list[str]:
    words = reply.split(" ")
    return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]


def _chat_usage(u: FakeUsage) -> dict[str, Any]:
    cached: dict[str, Any] = {"cached_tokens": u.cache_read, "audio_tokens": 0}
    if u.cache_write:
        cached["cache_write_tokens"] = u.cache_write
    return {
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": (u.input or 0) + (u.output or 0),
        "prompt_tokens_details": cached,
        "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": 0},
    }


def _responses_usage(u: FakeUsage) -> dict[str, Any]:
    return {
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cache_read, "cache_write_tokens": u.cache_write},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": (u.input or 0) + (u.output or 0),
    }


def _tiered(a: Answer, body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI body with the ``service_tier`` that served it, when the answer names one."""
    return body if a.service_tier is None else {**body, "service_tier": a.service_tier}


def _anthropic_usage(u: FakeUsage, output: int | None = None, service_tier: str | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": (u.input or 0) - u.cache_read - u.cache_write,  # Anthropic's excludes the cache
        "cache_read_input_tokens": u.cache_read,
        "cache_creation_input_tokens": u.cache_write,
        "output_tokens": u.output if output is None else output,
    }
    if u.reasoning:
        usage["output_tokens_details"] = {"thinking_tokens": u.reasoning}
    if service_tier is not None:
        usage["service_tier"] = service_tier
    return usage


def _response_object(a: Answer, *, done: bool = True) -> dict[str, Any]:
    return _tiered(a, {
        "id": a.id,
        "object": "response",
        "created_at": a.created,
        "status": "completed" if done else "in_progress",
        "model": a.model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{a.id}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": a.reply, "annotations": []}],
            }
        ]
        if done
        else [],
        "usage": _responses_usage(a.usage) if done else None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    })


def wire_response(a: Answer) -> dict[str, Any]:
    """The non-streamed response body of ``a``'s API."""
    if a.api == "chat":
        return _tiered(a, {
            "id": a.id,
            "object": "chat.completion",
            "created": a.created,
            "model": a.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": a.reply, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": _chat_usage(a.usage),
        })
    if a.api == "responses":
        return _response_object(a)
    return {
        "id": a.id,
        "type": "message",
        "role": "assistant",
        "model": a.model,
        "content": [{"type": "text", "text": a.reply}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(a.usage, service_tier=a.service_tier),
    }


def _failing(a: Answer, i: int) -> bool:
    return a.stream_error_after is not None and i >= a.stream_error_after


def chat_chunks(a: Answer) -> Iterator[Event]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": a.id,
            "object": "chat.completion.chunk",
            "created": a.created,
            "model": a.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if a.include_usage:
            body["usage"] = None
        return _tiered(a, body)

    yield None, chunk({"role": "assistant", "content": ""})
    for i, word in enumerate(_words(a.reply)):
        if _failing(a, i):
            yield None, {"error": {"message": "fake stream failure", "type": "server_error", "code": None}}
            return
        yield None, chunk({"content": word})
    yield None, chunk({}, "stop")
    if a.include_usage:
        yield None, {**chunk({}), "choices": [], "usage": _chat_usage(a.usage)}
    yield None, "[DONE]"


def response_events(a: Answer) -> Iterator[Event]:
    seq = count()
    yield (
        "response.created",
        {"type": "response.created", "sequence_number": next(seq), "response": _response_object(a, done=False)},
    )
    for i, word in enumerate(_words(a.reply)):
        if _failing(a, i):
            yield (
                "error",
                {
                    "type": "error",
                    "sequence_number": next(seq),
                    "code": "server_error",
                    "message": "fake stream failure",
                    "param": None,
                },
            )
            return
        yield (
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "sequence_number": next(seq),
                "item_id": f"msg_{a.id}",
                "output_index": 0,
                "content_index": 0,
                "delta": word,
                "logprobs": [],
            },
        )
    yield (
        "response.completed",
        {"type": "response.completed", "sequence_number": next(seq), "response": _response_object(a)},
    )


def anthropic_events(a: Answer) -> Iterator[Event]:
    start = {**wire_response(a), "content": [], "stop_reason": None,
             "usage": _anthropic_usage(a.usage, output=1, service_tier=a.service_tier)}
    yield "message_start", {"type": "message_start", "message": start}
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    yield "ping", {"type": "ping"}
    for i, word in enumerate(_words(a.reply)):
        if _failing(a, i):
            yield "error", {"type": "error", "error": {"type": "overloaded_error", "message": "fake stream failure"}}
            return
        yield (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
        )
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": _anthropic_usage(a.usage),
        },
    )  # cumulative, as the real API sends
    yield "message_stop", {"type": "message_stop"}


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_body(api: str, status: int, message: str) -> dict[str, Any]:
    """An error body in the shape ``api``'s SDK parses into its exception's message."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    if api == "messages":
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
