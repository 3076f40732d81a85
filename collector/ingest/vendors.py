"""Where other instrumentations mean something else by a GenAI attribute, and how to read them. Pure.

normalize() reads every vendor through the spellings in instrumentation/conventions.py. Two things
the spelling alone cannot tell, both found by driving the real packages (tests/test_interop_vendors.py):

* OpenLIT's Anthropic instrumentation puts Anthropic's own ``usage.input_tokens`` (which EXCLUDES
  cache reads and writes) in ``gen_ai.usage.input_tokens``, beside the semconv cache counts. The
  semconv value includes them. normalize's "cache > input" guess only catches it when the cached
  part is the larger one; :func:`adapt_attributes` fixes it by instrumentation scope.
* The service tier that served a call is spelled per provider (OpenAI's response or request tier,
  Anthropic's ``usage.service_tier``), and Anthropic reports Message Batches work as the tier
  "batch": :func:`served_tier` reads them all as one (service tier, processing) pair.
* The anthropic SDK (>=2) traces its own calls, on by default with the global TracerProvider. Under
  another instrumentation's LLM span (OpenLLMetry, OpenLIT, tierscope's shim) that is a second LLM
  span for the same call, with the same usage: :func:`nested_sdk_duplicates` names it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tierscope.instrumentation import conventions as c

# Instrumentation scopes whose gen_ai.usage.input_tokens leaves out cache reads and writes.
INPUT_EXCLUDES_CACHE_SCOPES = frozenset({"openlit.instrumentation.anthropic"})
# Scopes of SDKs that trace their own API calls: a duplicate when nested under another LLM span.
NATIVE_SDK_SCOPES = c.NATIVE_SDK_SCOPES


def _count(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, bool) or value is None or value == "":
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return None  # malformed: leave it for normalize to reject with its own reason
    return 0


def adapt_attributes(scope_name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """The span's attributes with semconv meaning; ``attrs`` itself when nothing needs changing.

    For a scope in INPUT_EXCLUDES_CACHE_SCOPES, the cache reads and writes are added to the input
    count (under the key normalize reads first), so it is the semconv total.
    """
    if scope_name not in INPUT_EXCLUDES_CACHE_SCOPES:
        return attrs
    uncached = _count(attrs, c.INPUT_TOKENS_KEYS)
    read = _count(attrs, c.CACHE_READ_KEYS)
    write = _count(attrs, c.CACHE_WRITE_KEYS)
    if uncached is None or read is None or write is None or not (read or write):
        return attrs
    adapted = {k: v for k, v in attrs.items() if k not in c.INPUT_TOKENS_KEYS}
    adapted[c.USAGE_INPUT_TOKENS] = uncached + read + write
    return adapted


MAX_TIER_CHARS = 64


def served_tier(attrs: Mapping[str, Any]) -> tuple[str, str]:
    """(service tier, processing) of a span, lowercase, "" when not reported. The tier is the first of
    conventions.SERVICE_TIER_KEYS present; a tier of "batch" (Anthropic) is batch processing."""
    tier = next((v for v in map(attrs.get, c.SERVICE_TIER_KEYS) if v is not None and v != ""), "")
    tier = str(tier)[:MAX_TIER_CHARS].lower()
    processing = attrs.get(c.PROCESSING)
    processing = str(processing)[:MAX_TIER_CHARS].lower() if processing is not None else ""
    if tier == c.BATCH:
        return "", c.BATCH
    return tier, processing


def nested_sdk_duplicates(llm_spans: Iterable[tuple[str, bytes, bytes]]) -> set[bytes]:
    """span_ids of native-SDK LLM spans whose parent is another LLM span in the same batch.

    ``llm_spans``: (instrumentation scope name, span_id, parent_span_id) of every LLM span of one
    OTLP request. The outer span is the one kept: it carries the caller's instrumentation (and the
    role processor saw the same context for both).
    """
    spans = list(llm_spans)
    outer = {span_id for scope, span_id, _ in spans if scope not in NATIVE_SDK_SCOPES}
    return {span_id for scope, span_id, parent in spans
            if scope in NATIVE_SDK_SCOPES and parent and parent in outer}
