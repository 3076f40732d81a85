"""The semconv provider name of a call comes from the SDK client class, sync and async alike."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tierscope.instrumentation import _anthropic, _openai


@pytest.mark.parametrize("client, expected", [
    (openai.OpenAI(api_key="k"), "openai"),
    (openai.AzureOpenAI(api_key="k", azure_endpoint="https://x.openai.azure.com", api_version="2024-10-21"),
     "azure.ai.openai"),
    (openai.AsyncAzureOpenAI(api_key="k", azure_endpoint="https://x.openai.azure.com", api_version="2024-10-21"),
     "azure.ai.openai"),
    (openai.AsyncOpenAI(api_key="k"), "openai"),
])
def test_openai_client_classes(client: object, expected: str) -> None:
    assert _openai._SPEC.provider_for(client.chat.completions) == expected


@pytest.mark.parametrize("client, expected", [
    (anthropic.Anthropic(api_key="k"), "anthropic"),
    (anthropic.AsyncAnthropic(api_key="k"), "anthropic"),
    (anthropic.AnthropicVertex(region="us-east5", project_id="p", access_token="t"), "gcp.vertex_ai"),
    (anthropic.AsyncAnthropicVertex(region="us-east5", project_id="p", access_token="t"), "gcp.vertex_ai"),
])
def test_anthropic_client_classes(client: object, expected: str) -> None:
    assert _anthropic._SPEC.provider_for(client.messages) == expected
