"""Span attribute names: the OpenTelemetry GenAI ones we emit, ours, and the spellings we accept.

One module, imported by the shims (which emit) and by the collector (which reads), so the two
can never disagree. The README's attribute reference is generated from the same names.
"""

from __future__ import annotations

# --- OpenTelemetry GenAI semantic conventions: what our shims emit -------------------------------
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"  # includes cached tokens, per semconv
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"  # includes reasoning tokens
USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
ERROR_TYPE = "error.type"
# The service tier of an OpenAI call (semconv): the one that served it (response), else the one asked for.
OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"  # "default", "priority", "flex", ...
OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"  # "auto", "default", "priority", "flex"

# --- tierscope's own namespace --------------------------------------------------------------------
ROLE = "tierscope.role"
TIER = "tierscope.tier"
TEAM = "tierscope.team"
FEATURE = "tierscope.feature"
# Anthropic's `usage.service_tier` ("standard", "priority", "batch"), as its shim records it.
ANTHROPIC_SERVICE_TIER = "anthropic.usage.service_tier"
# "async" marks latency-tolerant work (role(..., deadline="async")): batch processing would do for it;
# "interactive" (or nothing) is work a user waits on.
DEADLINE = "tierscope.deadline"
DEADLINES = ("async", "interactive")
PROCESSING = "tierscope.processing"  # "batch" for Batch API work (half price on most models)
BATCH = "batch"
QUALITY_SCORE = "tierscope.quality.score"  # float in [0, 1]
QUALITY_SOURCE = "tierscope.quality.source"  # e.g. "user_feedback", "judge", "schema_check"
# A late-quality span (name QUALITY_SPAN_NAME) points at the span it grades with these two:
QUALITY_TARGET_TRACE_ID = "tierscope.quality.target.trace_id"  # 32 lowercase hex chars
QUALITY_TARGET_SPAN_ID = "tierscope.quality.target.span_id"  # 16 lowercase hex chars
QUALITY_SPAN_NAME = "tierscope.quality"
# Router (policy) decisions, for off-policy evaluation:
ROUTER_POLICY_VERSION = "tierscope.router.policy_version"
ROUTER_PROPENSITY = "tierscope.router.propensity"  # probability the router picked this model
ROUTER_EXPLORED = "tierscope.router.explored"  # bool: an exploration pick, not the policy's
ROUTER_ESCALATED_FROM = "tierscope.router.escalated_from"  # model of the failed call retried one tier up
ROUTER_ESCALATION_OF = "tierscope.router.escalation_of"  # span id (hex) of the logged decision a retry retries
# A failover retry (the provider failed: 429, 5xx, a timeout, a refusal): the model that failed, why
# (a short code: rate_limited, server_error, timeout, connection, refusal, or the caller's own), and
# the span id (hex) of the routed call's first attempt.
ROUTER_FAILOVER_FROM = "tierscope.router.failover_from"
ROUTER_FAILOVER_REASON = "tierscope.router.failover_reason"
ROUTER_FAILOVER_OF = "tierscope.router.failover_of"
ROUTER_CHECK = "tierscope.router.check"  # "passed" or "failed": the router's deterministic check of the answer
# Instrumentation scope of every span tierscope's own shims and llm_call() emit.
INSTRUMENTATION_SCOPE = "tierscope"
# Set by RoleSpanProcessor on another instrumentation's LLM span that starts inside one of ours
# (anthropic>=2 traces itself under our shim's span; OpenLIT inside llm_call()): the span id (hex)
# of our span, which already counts the same tokens. The collector must not count this one.
DUPLICATE_OF = "tierscope.duplicate_of"

# Resource attributes read by the collector.
SERVICE_NAME = "service.name"
DEPLOYMENT_ENVIRONMENT = ("deployment.environment.name", "deployment.environment")

# --- Spellings accepted from other instrumentations (first match wins) ----------------------------
MODEL_KEYS = (RESPONSE_MODEL, REQUEST_MODEL, "llm.model_name", "gen_ai.model")
REQUEST_MODEL_KEYS = (REQUEST_MODEL, "llm.model_name")
PROVIDER_KEYS = (PROVIDER_NAME, "gen_ai.system", "llm.provider", "llm.system")
INPUT_TOKENS_KEYS = (USAGE_INPUT_TOKENS, "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKENS_KEYS = (USAGE_OUTPUT_TOKENS, "gen_ai.usage.completion_tokens", "llm.token_count.completion")
CACHE_READ_KEYS = (
    USAGE_CACHE_READ_INPUT_TOKENS,
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_KEYS = (
    USAGE_CACHE_CREATION_INPUT_TOKENS,
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
REASONING_KEYS = (
    USAGE_REASONING_OUTPUT_TOKENS,
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
)
SERVICE_TIER_KEYS = (
    OPENAI_RESPONSE_SERVICE_TIER,
    "gen_ai.openai.response.service_tier",  # semconv before 1.37
    ANTHROPIC_SERVICE_TIER,
    OPENAI_REQUEST_SERVICE_TIER,
    "gen_ai.openai.request.service_tier",
)
# Service tier values providers report that have no price of their own (priced at the default);
# the values genai-prices' variants select on are known too. Any other value is counted as unknown.
SERVICE_TIER_VALUES = ("auto", "default", "standard", "priority", "flex", "scale")
# OpenInference marks LLM spans with this kind instead of gen_ai.operation.name.
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
OPERATION_KEYS = (OPERATION_NAME, "llm.request.type")

# Prompt/completion content: dropped by the collector unless content capture is opted in.
CONTENT_KEY_PREFIXES = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.input_messages",
    "llm.output_messages",
    "llm.prompts",
    "input.value",
    "output.value",
)

# Model tiers, cheapest last. "local" is self-hosted: no per-token price.
TIERS = ("frontier", "mid", "small", "local")


# LLM SDKs that trace their own calls (anthropic>=2): under another instrumentation's LLM span they
# describe the same call twice, so the inner one is marked DUPLICATE_OF / dropped by the collector.
NATIVE_SDK_SCOPES = frozenset({"com.anthropic.sdk.python"})

__all__ = [name for name in dir() if name.isupper()]
