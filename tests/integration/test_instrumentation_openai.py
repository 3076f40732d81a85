"""The openai shim, driven by the real openai SDK against the fake provider over HTTP."""

from __future__ import annotations

import asyncio

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from tierscope.demo.fake_provider import fake_headers
from tierscope.instrumentation import conventions as c
from tierscope.instrumentation import instrument, llm_call, record_quality, role, uninstrument

MESSAGES = [{"role": "user", "content": "Plan the trip."}]
USAGE = fake_headers(input=1200, output=300, cache_read=1000, reasoning=120)
USAGE_ATTRIBUTES = {
    c.USAGE_INPUT_TOKENS: 1200,  # prompt_tokens already includes the cached 1000
    c.USAGE_OUTPUT_TOKENS: 300,
    c.USAGE_CACHE_READ_INPUT_TOKENS: 1000,
    c.USAGE_REASONING_OUTPUT_TOKENS: 120,
}


def usage_of(span) -> dict:
    return {key: span.attributes[key] for key in USAGE_ATTRIBUTES if key in span.attributes}


def async_client(fake_provider) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{fake_provider.url}/v1", api_key="test", max_retries=0)


def test_chat_completion(instrumented, finished_spans, openai_client, fake_provider):
    with role("planner", team="travel"):
        reply = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=USAGE)

    assert reply.choices[0].message.content == "This is a fake reply from gpt-4o."
    (span,) = finished_spans()
    assert span.name == "chat gpt-4o"
    assert span.kind is SpanKind.CLIENT
    assert span.attributes[c.PROVIDER_NAME] == "openai"
    assert span.attributes[c.OPERATION_NAME] == "chat"
    assert span.attributes[c.REQUEST_MODEL] == "gpt-4o"
    assert span.attributes[c.RESPONSE_MODEL] == "gpt-4o"
    assert span.attributes[c.RESPONSE_ID] == reply.id
    assert span.attributes[c.ROLE] == "planner"
    assert span.attributes[c.TEAM] == "travel"
    assert span.attributes[c.TIER] == "frontier"
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["server.port"] == int(fake_provider.url.rsplit(":", 1)[1])
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_cache_write_tokens(instrumented, finished_spans, openai_client):
    openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers=fake_headers(input=500, output=10, cache_write=400)
    )
    (span,) = finished_spans()
    assert span.attributes[c.USAGE_INPUT_TOKENS] == 500
    assert span.attributes[c.USAGE_CACHE_CREATION_INPUT_TOKENS] == 400
    assert span.attributes[c.TIER] == "small"


def test_async_chat_completion(instrumented, finished_spans, fake_provider):
    async def call():
        async with async_client(fake_provider) as client:
            with role("worker"):
                return await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=USAGE)

    reply = asyncio.run(call())
    (span,) = finished_spans()
    assert span.attributes[c.RESPONSE_ID] == reply.id
    assert span.attributes[c.ROLE] == "worker"
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_streaming_usage_from_the_final_chunk(instrumented, finished_spans, openai_client):
    with role("formatter"):
        stream = openai_client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, extra_headers=USAGE
        )
    assert finished_spans() == []  # open until the stream is read
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == "This is a fake reply from gpt-4o."
    (span,) = finished_spans()
    assert span.attributes[c.ROLE] == "formatter"
    assert span.attributes[c.RESPONSE_MODEL] == "gpt-4o"
    assert usage_of(span) == USAGE_ATTRIBUTES
    assert span.end_time >= span.start_time


def test_streaming_without_include_usage_has_no_counts(instrumented, finished_spans, openai_client):
    with openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            pass
    (span,) = finished_spans()
    assert usage_of(span) == {}
    assert span.status.status_code is StatusCode.UNSET


def test_stream_closed_early_ends_the_span(instrumented, finished_spans, openai_client):
    stream = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    next(iter(stream))
    stream.close()
    (span,) = finished_spans()
    assert span.status.status_code is StatusCode.UNSET


def test_stream_helper_is_covered(instrumented, finished_spans, openai_client):
    with openai_client.chat.completions.stream(
        model="gpt-4o", messages=MESSAGES, stream_options={"include_usage": True}, extra_headers=USAGE
    ) as stream:
        final = stream.get_final_completion()
    assert final.usage.prompt_tokens == 1200
    (span,) = finished_spans()
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_async_streaming(instrumented, finished_spans, fake_provider):
    async def call():
        async with async_client(fake_provider) as client:
            stream = await client.chat.completions.create(
                model="gpt-4o",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=USAGE,
            )
            return [chunk async for chunk in stream]

    chunks = asyncio.run(call())
    assert chunks[-1].usage.prompt_tokens == 1200
    (span,) = finished_spans()
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_responses_api(instrumented, finished_spans, openai_client):
    response = openai_client.responses.create(model="gpt-4o-mini", input="Summarise.", extra_headers=USAGE)
    assert response.output_text == "This is a fake reply from gpt-4o-mini."
    (span,) = finished_spans()
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes[c.RESPONSE_ID] == response.id
    assert span.attributes[c.TIER] == "small"
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_responses_api_streaming_and_async(instrumented, finished_spans, openai_client, fake_provider):
    events = list(openai_client.responses.create(model="gpt-4o", input="Hi", stream=True, extra_headers=USAGE))
    assert events[-1].type == "response.completed"

    async def call():
        async with async_client(fake_provider) as client:
            return await client.responses.create(model="gpt-4o", input="Hi", extra_headers=USAGE)

    asyncio.run(call())
    streamed, awaited = finished_spans()
    assert usage_of(streamed) == USAGE_ATTRIBUTES
    assert streamed.attributes[c.RESPONSE_ID] == events[-1].response.id
    assert usage_of(awaited) == USAGE_ATTRIBUTES


@pytest.mark.parametrize(("status", "error_type"), [(500, openai.InternalServerError), (400, openai.BadRequestError)])
def test_http_errors_are_recorded_and_reraised(instrumented, finished_spans, openai_client, status, error_type):
    with pytest.raises(error_type) as raised:
        openai_client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, extra_headers=fake_headers(status=status)
        )
    assert raised.value.status_code == status

    (span,) = finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[c.ERROR_TYPE] == error_type.__qualname__
    assert [event.name for event in span.events] == ["exception"]
    assert usage_of(span) == {}


def test_async_http_error(instrumented, finished_spans, fake_provider):
    async def call():
        async with async_client(fake_provider) as client:
            await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, extra_headers=fake_headers(status=429)
            )

    with pytest.raises(openai.RateLimitError):
        asyncio.run(call())
    (span,) = finished_spans()
    assert span.attributes[c.ERROR_TYPE] == "RateLimitError"


def test_error_in_the_middle_of_a_stream(instrumented, finished_spans, openai_client):
    stream = openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=fake_headers(stream_error_after=2)
    )
    with pytest.raises(openai.APIError, match="fake stream failure"):
        for _ in stream:
            pass
    (span,) = finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[c.ERROR_TYPE] == "APIError"


def test_instrument_is_idempotent_and_uninstrument_restores(tierscope_tracing, finished_spans, openai_client):
    from openai.resources.chat.completions.completions import AsyncCompletions, Completions
    from openai.resources.responses.responses import Responses

    originals = (Completions.create, AsyncCompletions.create, Responses.create, Completions.parse)
    try:
        assert instrument() == ("openai", "anthropic")
        wrapped = Completions.create
        instrument()
        assert Completions.create is wrapped and wrapped is not originals[0]
        openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert len(finished_spans()) == 1  # one span, not one per instrument() call
    finally:
        uninstrument()
        uninstrument()
    assert (Completions.create, AsyncCompletions.create, Responses.create, Completions.parse) == originals
    openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(finished_spans()) == 1


def test_uninstrument_under_a_foreign_wrapper_goes_inert(tierscope_tracing, finished_spans, openai_client):
    from openai.resources.chat.completions.completions import Completions

    original = Completions.create
    instrument(sdks=["openai"])
    ours = Completions.create

    def foreign(self, *args, **kwargs):  # another instrumentation wrapping after us
        return ours(self, *args, **kwargs)

    Completions.create = foreign
    try:
        uninstrument(sdks=["openai"])
        assert Completions.create is foreign
        openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert finished_spans() == []
    finally:
        Completions.create = original


def test_structured_output_parse(instrumented, finished_spans, openai_client):
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    completion = openai_client.chat.completions.parse(
        model="gpt-4o",
        messages=MESSAGES,
        response_format=City,
        extra_headers={**USAGE, **fake_headers(reply='{"name": "Paris"}')},
    )
    assert completion.choices[0].message.parsed == City(name="Paris")
    (span,) = finished_spans()
    assert usage_of(span) == USAGE_ATTRIBUTES


def test_raw_response_is_traced_without_usage(instrumented, finished_spans, openai_client, caplog):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, extra_headers=USAGE
    )
    assert raw.parse().usage.prompt_tokens == 1200  # the caller still gets the raw response
    (span,) = finished_spans()
    assert span.attributes[c.REQUEST_MODEL] == "gpt-4o"
    assert usage_of(span) == {}
    assert "failed" not in caplog.text


def test_inside_llm_call_the_sdk_call_adds_to_that_span(instrumented, finished_spans, openai_client):
    """The way to get a feedback handle on a shimmed call: one span, counted once."""
    with role("planner"), llm_call(model="gpt-4o", provider="openai") as call:
        reply = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=USAGE)
    with llm_call(model="gpt-4o", provider="openai", role="formatter"):
        stream = openai_client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, extra_headers=USAGE
        )
        for _ in stream:
            pass
    record_quality(0.9, "user_feedback", trace_id=call.trace_id, span_id=call.span_id)

    plain, streamed, quality = finished_spans()
    assert plain.attributes[c.ROLE] == "planner"
    assert plain.attributes[c.RESPONSE_ID] == reply.id
    assert usage_of(plain) == USAGE_ATTRIBUTES
    assert streamed.attributes[c.ROLE] == "formatter"
    assert usage_of(streamed) == USAGE_ATTRIBUTES
    assert quality.attributes[c.QUALITY_TARGET_SPAN_ID] == call.span_id


def test_an_error_inside_llm_call_is_recorded_once(instrumented, finished_spans, openai_client):
    with pytest.raises(openai.InternalServerError), llm_call(model="gpt-4o", provider="openai"):
        openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=fake_headers(status=500))
    (span,) = finished_spans()
    assert span.attributes[c.ERROR_TYPE] == "InternalServerError"
    assert [event.name for event in span.events] == ["exception"]


def test_with_tracing_off_calls_work_unchanged(instrumented, openai_client, tracer_provider):
    from opentelemetry.trace import NoOpTracerProvider

    instrument(tracer_provider=NoOpTracerProvider())
    try:
        reply = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=USAGE)
        chunks = list(openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        with llm_call(model="gpt-4o", provider="openai") as call:
            pass
        record_quality(0.5, "user_feedback", trace_id=call.trace_id, span_id=call.span_id)  # dropped, no error
    finally:
        instrument(tracer_provider=tracer_provider)
    assert reply.usage.prompt_tokens == 1200
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (call.trace_id, call.span_id) == ("0" * 32, "0" * 16)


def test_stream_dropped_unread_ends_its_span_when_collected(instrumented, finished_spans, openai_client):
    import gc

    stream = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert finished_spans() == []
    del stream
    gc.collect()
    (span,) = finished_spans()
    assert span.name == "chat gpt-4o"
