"""The fake provider's wire protocol, as other tests and the demo rely on it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import anthropic
import pytest
from tierscope.demo.fake_provider import USAGE_HEADER, FakeUsage, fake_headers, start_fake_provider


def post(url: str, body: dict, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_usage_header_in_each_apis_wire_shape(fake_provider):
    headers = fake_headers(input=130, output=40, cache_read=100, cache_write=10, reasoning=25)
    assert headers == {USAGE_HEADER: "input=130,output=40,cache_read=100,cache_write=10,reasoning=25"}
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    _, completion = post(f"{fake_provider.url}/v1/chat/completions", chat, headers)
    assert completion["usage"]["prompt_tokens"] == 130
    assert completion["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 100,
        "audio_tokens": 0,
        "cache_write_tokens": 10,
    }
    assert completion["usage"]["completion_tokens_details"]["reasoning_tokens"] == 25

    _, response = post(f"{fake_provider.url}/v1/responses", {"model": "m", "input": "hi"}, headers)
    assert response["usage"]["input_tokens"] == 130
    assert response["usage"]["input_tokens_details"] == {"cached_tokens": 100, "cache_write_tokens": 10}

    _, message = post(f"{fake_provider.url}/v1/messages", {**chat, "max_tokens": 5}, headers)
    assert message["usage"] == {
        "input_tokens": 20,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 10,
        "output_tokens": 40,
        "output_tokens_details": {"thinking_tokens": 25},
    }


def test_defaults_derive_from_the_request(fake_provider):
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 41}]}
    _, completion = post(f"{fake_provider.url}/v1/chat/completions", body)
    assert completion["usage"]["prompt_tokens"] == 11  # ceil(41 / 4)
    assert completion["usage"]["completion_tokens"] == 7  # words of "This is a fake reply from m."
    assert completion["choices"][0]["message"]["content"] == "This is a fake reply from m."


def test_reply_and_response_model_headers(fake_provider):
    headers = fake_headers(reply="four words right here", response_model="m-2025-01-01")
    _, completion = post(f"{fake_provider.url}/v1/chat/completions", {"model": "m", "messages": []}, headers)
    assert completion["model"] == "m-2025-01-01"
    assert completion["choices"][0]["message"]["content"] == "four words right here"
    assert completion["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize(
    "value", ["input=ten", "bogus=1", "input=5,cache_read=4,cache_write=2", "output=3,reasoning=4"]
)
def test_bad_usage_is_a_400(fake_provider, value):
    status, body = post(f"{fake_provider.url}/v1/messages", {"model": "m", "messages": []}, {USAGE_HEADER: value})
    assert status == 400
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    status, body = post(
        f"{fake_provider.url}/v1/chat/completions", {"model": "m", "messages": []}, {USAGE_HEADER: value}
    )
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


def test_status_header_and_unknown_routes(fake_provider):
    status, body = post(f"{fake_provider.url}/v1/messages", {"model": "m"}, fake_headers(status=529))
    assert (status, body["error"]["type"]) == (529, "overloaded_error")
    status, _ = post(f"{fake_provider.url}/v1/embeddings", {"model": "m"})
    assert status == 404


def test_server_default_usage_and_recorded_requests():
    with start_fake_provider(default_usage=FakeUsage(input=500, output=7, cache_read=400)) as fake:
        client = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
        message = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=5,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=fake_headers(output=9),  # a header overrides the default key by key
        )
        assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
            100,
            400,
            9,
        )
        (request,) = fake.requests
        assert request.path == "/v1/messages"
        assert request.headers[USAGE_HEADER] == "output=9"
        assert request.body["model"] == "claude-haiku-4-5"


def test_fake_usage_round_trips_through_its_header_value():
    usage = FakeUsage(input=10, output=3, cache_read=4)
    assert FakeUsage.parse(usage.header_value()) == usage


def test_latency_header(fake_provider):
    import time

    started = time.perf_counter()
    status, _ = post(f"{fake_provider.url}/v1/responses", {"model": "m", "input": "hi"}, fake_headers(latency_ms=200))
    assert status == 200
    assert time.perf_counter() - started >= 0.2
