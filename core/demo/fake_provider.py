"""A fake LLM provider over real HTTP, speaking enough OpenAI and Anthropic for their official SDKs.

Tests, the demo workload and other vendors' instrumentations point a real client at it and get
exact, chosen token counts back — no network, no keys, no cost::

    with start_fake_provider() as fake:
        client = openai.OpenAI(base_url=f"{fake.url}/v1", api_key="x", max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[...],
                                       extra_headers=fake_headers(input=1200, output=80, cache_read=1000))
        anthropic.Anthropic(base_url=fake.url, api_key="x", max_retries=0)

Endpoints: ``POST /v1/chat/completions`` (``stream: true`` as SSE, with a final usage chunk when
``stream_options.include_usage``), ``POST /v1/responses`` (also streamed), ``POST /v1/messages``
(Anthropic; streamed as message_start / content_block_* / message_delta / message_stop events).

Per-request control, by request header (``extra_headers=`` on both SDKs; see :func:`fake_headers`):

``x-fake-usage: input=1200,output=80,cache_read=1000,cache_write=100,reasoning=30``
    Token counts in OpenTelemetry semconv terms: ``input`` is ALL input tokens, cached included.
    Each API gets its own wire shape: OpenAI ``prompt_tokens``/``input_tokens`` = input,
    ``cached_tokens`` = cache_read, ``cache_write_tokens`` = cache_write; Anthropic
    ``input_tokens`` = input - cache_read - cache_write, ``cache_read_input_tokens``,
    ``cache_creation_input_tokens``, ``output_tokens_details.thinking_tokens`` = reasoning.
    Any key may be left out: ``input`` defaults to ceil(request text chars / 4), ``output`` to the
    reply's word count, the rest to 0. A malformed value, cache > input or reasoning > output: 400.
``x-fake-status: 500``        answer with that HTTP status and the API's error body (SDKs retry 429/5xx:
                              use ``max_retries=0``).
``x-fake-reply: some text``   the assistant's text (default ``"This is a fake reply from <model>."``).
``x-fake-response-model: m``  the model the response says answered (default: the requested one).
``x-fake-stream-error: 2``    a streamed response fails with an error event after 2 text chunks.
``x-fake-latency-ms: 250``    wait that long before answering (a slow model, a timeout test).
``x-fake-service-tier: flex`` the service tier that served the call: OpenAI's ``service_tier`` (on the
                              response and every stream chunk), Anthropic's ``usage.service_tier``.

Without headers, ``start_fake_provider(default_usage=FakeUsage(...))`` sets the usage for every
request. ``fake.requests`` records what arrived (path, lower-cased headers, JSON body), the
latest ``max_recorded`` of them.
"""

from __future__ import annotations

import json
import math
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from types import TracebackType
from typing import Any

from tierscope.demo.fake_wire import (
    USAGE_HEADER,
    Answer,
    FakeUsage,
    anthropic_events,
    chat_chunks,
    error_body,
    response_events,
    wire_response,
)

__all__ = [
    "USAGE_HEADER",
    "FakeProvider",
    "FakeUsage",
    "RecordedRequest",
    "fake_headers",
    "start_fake_provider",
]

STATUS_HEADER = "x-fake-status"
REPLY_HEADER = "x-fake-reply"
RESPONSE_MODEL_HEADER = "x-fake-response-model"
STREAM_ERROR_HEADER = "x-fake-stream-error"
LATENCY_HEADER = "x-fake-latency-ms"
SERVICE_TIER_HEADER = "x-fake-service-tier"
_PATHS = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/messages": "messages"}


def fake_headers(
    *,
    input: int | None = None,
    output: int | None = None,
    cache_read: int | None = None,
    cache_write: int | None = None,
    reasoning: int | None = None,
    status: int | None = None,
    reply: str | None = None,
    response_model: str | None = None,
    stream_error_after: int | None = None,
    latency_ms: int | None = None,
    service_tier: str | None = None,
) -> dict[str, str]:
    """The request headers that make the fake answer this way; pass them as ``extra_headers``.

    Only what is given becomes a header, so ``{**fake_headers(input=9), **fake_headers(status=500)}`` combines.
    """
    counts = {
        "input": input,
        "output": output,
        "cache_read": cache_read,
        "cache_write": cache_write,
        "reasoning": reasoning,
    }
    headers: dict[str, str] = {}
    if any(value is not None for value in counts.values()):
        headers[USAGE_HEADER] = ",".join(f"{key}={value}" for key, value in counts.items() if value is not None)
    for name, value in (
        (STATUS_HEADER, status),
        (REPLY_HEADER, reply),
        (RESPONSE_MODEL_HEADER, response_model),
        (STREAM_ERROR_HEADER, stream_error_after),
        (LATENCY_HEADER, latency_ms),
        (SERVICE_TIER_HEADER, service_tier),
    ):
        if value is not None:
            headers[name] = str(value)
    return headers


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _text_of(value: Any) -> Iterator[str]:
    """Every string under ``value`` that is message text (content, text, input, system, instructions)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _text_of(item)
    elif isinstance(value, dict):
        for key in ("content", "text", "input", "system", "instructions", "messages"):
            if key in value:
                yield from _text_of(value[key])


def _decide(api: str, headers: dict[str, str], body: dict[str, Any], default: FakeUsage | None, n: int) -> Answer:
    model = str(body.get("model") or "fake-model")
    reply = headers.get(REPLY_HEADER) or f"This is a fake reply from {model}."
    usage = FakeUsage.parse(headers.get(USAGE_HEADER, ""), default)
    chars = sum(
        len(text) for text in _text_of({k: body.get(k) for k in ("messages", "input", "system", "instructions")})
    )
    usage = replace(
        usage,
        input=usage.input if usage.input is not None else max(1, math.ceil(chars / 4)),
        output=usage.output if usage.output is not None else len(reply.split()),
    )
    assert usage.input is not None and usage.output is not None
    if usage.cache_read + usage.cache_write > usage.input:
        raise ValueError(f"cache_read + cache_write ({usage.cache_read}+{usage.cache_write}) > input ({usage.input})")
    if usage.reasoning > usage.output:
        raise ValueError(f"reasoning ({usage.reasoning}) > output ({usage.output})")
    after = headers.get(STREAM_ERROR_HEADER)
    if after is not None and not after.isdigit():
        raise ValueError(f"{STREAM_ERROR_HEADER} must be a number of chunks, got {after!r}")
    prefix = {"chat": "chatcmpl-fake", "responses": "resp_fake", "messages": "msg_fake"}[api]
    return Answer(
        api=api,
        model=headers.get(RESPONSE_MODEL_HEADER) or model,
        reply=reply,
        usage=usage,
        id=f"{prefix}{n:06d}",
        created=int(time.time()),
        stream=bool(body.get("stream")),
        include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
        stream_error_after=None if after is None else int(after),
        service_tier=headers.get(SERVICE_TIER_HEADER) or None,
    )


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # else each reply waits ~40 ms for the client's delayed ACK

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._json(404, error_body("chat", 404, f"no route GET {self.path}"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        self.server.fake._record(RecordedRequest("POST", path, headers, body))
        api = _PATHS.get(path)
        if api is None:
            self._json(404, error_body("chat", 404, f"no route POST {path}"))
            return
        latency = headers.get(LATENCY_HEADER, "")
        if latency.isdigit():
            time.sleep(int(latency) / 1000)
        status = headers.get(STATUS_HEADER)
        if status is not None:
            code = int(status) if status.isdigit() else 400
            self._json(code, error_body(api, code, f"fake error {code} as asked by {STATUS_HEADER}"))
            return
        try:
            answer = _decide(api, headers, body, self.server.fake.default_usage, self.server.fake._next_id())
        except ValueError as error:
            self._json(400, error_body(api, 400, str(error)))
            return
        if not answer.stream:
            self._json(200, wire_response(answer))
            return
        self._stream(answer)

    def _stream(self, answer: Answer) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        events = {"chat": chat_chunks, "responses": response_events, "messages": anthropic_events}[answer.api]
        try:
            for event, data in events(answer):
                head = f"event: {event}\n" if event else ""
                self.wfile.write(f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode())
                self.wfile.flush()
        except ConnectionError:
            return  # the client closed the stream early, as clients may


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProvider

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client gave up first (its timeout, as a timeout test asks): not the fake's error
        super().handle_error(request, client_address)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's reverse-DNS lookup of the host
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class FakeProvider:
    """A running fake provider: ``url`` (no trailing slash, no ``/v1``), ``requests``, ``stop()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default_usage: FakeUsage | None = None,
        max_recorded: int = 10_000,
    ) -> None:
        self.default_usage = default_usage
        self.requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._lock = threading.Lock()
        self._ids = count(1)
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm-provider", daemon=True
        )
        self._thread.start()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeProvider:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_fake_provider(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    default_usage: FakeUsage | None = None,
    max_recorded: int = 10_000,
) -> FakeProvider:
    """Start a fake provider on ``host:port`` (port 0: a free one) in a background thread."""
    return FakeProvider(host, port, default_usage=default_usage, max_recorded=max_recorded)
