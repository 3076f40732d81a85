"""The anthropic shim, driven by the real anthropic SDK against the fake provider over HTTP."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from tierscope.demo.fake_provider import fake_headers
from tierscope.instrumentation import conventions as c
from tierscope.instrumentation import llm_call, role

MODEL = "claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "Critique this plan."}]
# Semconv totals: 130 input of which 100 read from and 10 written to the cache; the wire says 20.
USAGE = fake_headers(input=130, output=40, cache_read=100, cache_write=10, reasoning=25)
USAGE_ATTRIBUTES = {
    c.USAGE_INPUT_TOKENS: 130,
    c.USAGE_OUTPUT_TOKENS: 40,
    c.USAGE_CACHE_READ_INPUT_TOKENS: 100,
    c.USAGE_CACHE_CREATION_INPUT_TOKENS: 10,
    c.USAGE_REASONING_OUTPUT_TOKENS: 25,
}


def usage_of(span) -> dict:
    return {key: span.attributes[key] for key in USAGE_ATTRIBUTES if key in span.attributes}


def async_client(fake_provider, **options) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake_provider.url, api_key="test", max_retries=0, **options)


def test_message(instrumented, finished_spans, anthropic_client):
    with role("critic", team="travel", feature="review"):
        message = anthropic_client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=USAGE)

    assert message.usage.input_tokens == 20  # Anthropic's own count excludes the cache...
    (span,) = finished_spans()
    assert usage_of(span) == USAGE_ATTRIBUTES  # ...semconv's includes it
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.attributes[c.PROVIDER_NAME] == "anthropic"
    assert span.attributes[c.RESPONSE_MODEL] == MODEL
    assert span.attributes[c.RESPONSE_ID] == message.id
    assert (span.attributes[c.ROLE], span.attributes[c.TEAM], span.attributes[c.FEATURE]) == (
        "critic",
        "travel",
        "review",
    )
    assert span.attributes[c.TIER] == "frontier"


def test_async_message(instrumented, finished_spans, fake_provider):
    async def call():
        async with async_client(fake_provider) as client:
            with role("worker"):
                return await client.messages.create(
                    model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES, extra_headers=USAGE
                )

    message = asyncio.run(call())
    (span,) = finished_spans()
    assert span.attributes[c.RESPONSE_ID] == message.id
    assert span.attributes[c.ROLE] == "worker"
    assert span.attributes[c.TIER] == "mid"
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_streamed_create(instrumented, finished_spans, anthropic_client):
    with role("formatter"):
        stream = anthropic_client.messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, stream=True, extra_headers=USAGE
        )
    assert finished_spans() == []
    kinds = [event.type for event in stream]

    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    (span,) = finished_spans()
    assert span.attributes[c.ROLE] == "formatter"
    assert span.attributes[c.RESPONSE_MODEL] == MODEL
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_async_streamed_create(instrumented, finished_spans, fake_provider):
    async def call():
        async with async_client(fake_provider) as client:
            stream = await client.messages.create(
                model=MODEL, max_tokens=64, messages=MESSAGES, stream=True, extra_headers=USAGE
            )
            async with stream:
                return [event.type async for event in stream]

    asyncio.run(call())
    (span,) = finished_spans()
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_stream_helper(instrumented, finished_spans, anthropic_client):
    with role("planner"):
        with anthropic_client.messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=USAGE
        ) as stream:
            text = "".join(stream.text_stream)
    assert text == f"This is a fake reply from {MODEL}."
    (span,) = finished_spans()
    assert span.attributes[c.ROLE] == "planner"
    assert span.attributes[c.RESPONSE_ID].startswith("msg_fake")
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_async_stream_helper(instrumented, finished_spans, fake_provider):
    async def call():
        async with async_client(fake_provider) as client:
            async with client.messages.stream(
                model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=USAGE
            ) as stream:
                return await stream.get_final_message()

    message = asyncio.run(call())
    assert message.usage.cache_read_input_tokens == 100
    (span,) = finished_spans()
    assert usage_of(span) == USAGE_ATTRIBUTES


@pytest.mark.parametrize(
    ("status", "error_type"), [(500, anthropic.InternalServerError), (400, anthropic.BadRequestError)]
)
def test_http_errors_are_recorded_and_reraised(instrumented, finished_spans, anthropic_client, status, error_type):
    with pytest.raises(error_type) as raised:
        anthropic_client.messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=fake_headers(status=status)
        )
    assert raised.value.status_code == status
    (span,) = finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[c.ERROR_TYPE] == error_type.__qualname__
    assert [event.name for event in span.events] == ["exception"]


def test_stream_helper_http_error(instrumented, finished_spans, anthropic_client):
    with pytest.raises(anthropic.RateLimitError):
        with anthropic_client.messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=fake_headers(status=429)
        ):
            pass
    (span,) = finished_spans()
    assert span.attributes[c.ERROR_TYPE] == "RateLimitError"


def test_error_in_the_middle_of_a_stream(instrumented, finished_spans, anthropic_client):
    with pytest.raises(anthropic.APIStatusError, match="fake stream failure"):
        with anthropic_client.messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers={**USAGE, **fake_headers(stream_error_after=1)}
        ) as stream:
            stream.until_done()
    (span,) = finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[c.USAGE_INPUT_TOKENS] == 130  # message_start had arrived


def test_an_error_in_the_callers_block_is_not_the_models(instrumented, finished_spans, anthropic_client):
    with pytest.raises(KeyError):
        with anthropic_client.messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=USAGE
        ) as stream:
            stream.until_done()
            raise KeyError("caller bug")
    (span,) = finished_spans()
    assert span.status.status_code is StatusCode.UNSET
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_sdk_native_span_nests_under_ours(instrumented, span_exporter, tracer_provider, fake_provider):
    """anthropic>=2 traces itself; its span is our span's child, marked by its own scope."""
    with anthropic.Anthropic(
        base_url=fake_provider.url, api_key="test", max_retries=0, open_telemetry={"tracer_provider": tracer_provider}
    ) as client:
        with role("planner"):
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=USAGE)

    native, ours = span_exporter.get_finished_spans()
    assert ours.instrumentation_scope.name == c.INSTRUMENTATION_SCOPE
    assert native.instrumentation_scope.name != c.INSTRUMENTATION_SCOPE
    assert native.parent.span_id == ours.context.span_id
    assert native.attributes[c.ROLE] == "planner"  # the role processor labels it too
    assert native.attributes[c.USAGE_INPUT_TOKENS] == ours.attributes[c.USAGE_INPUT_TOKENS] == 130
    # ...and marks it as already counted on ours, so the collector counts the call once
    assert native.attributes[c.DUPLICATE_OF] == format(ours.context.span_id, "016x")
    assert c.DUPLICATE_OF not in ours.attributes


def test_stream_helper_inside_llm_call_adds_to_that_span(instrumented, finished_spans, anthropic_client):
    with llm_call(model=MODEL, provider="anthropic", role="critic") as call:
        with anthropic_client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=USAGE) as s:
            s.until_done()
    (span,) = finished_spans()
    assert span.context.span_id == call.span.get_span_context().span_id
    assert span.attributes[c.ROLE] == "critic"
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_stream_helper_left_unread(instrumented, finished_spans, anthropic_client, caplog):
    with anthropic_client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=USAGE):
        pass
    (span,) = finished_spans()
    assert usage_of(span) == {}
    assert span.status.status_code is StatusCode.UNSET
    assert "failed" not in caplog.text
