"""role(): every span inside — ours or another instrumentation's — carries the role."""

from __future__ import annotations

import asyncio

import pytest
from tierscope.instrumentation import current_role, llm_call, role, set_tier_map
from tierscope.instrumentation.conventions import DUPLICATE_OF, FEATURE, REQUEST_MODEL, ROLE, TEAM, TIER


def by_name(exporter) -> dict:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_role_labels_spans_of_another_instrumentation(tracer_provider, span_exporter):
    other = tracer_provider.get_tracer("some.other.instrumentation")
    with role("planner", team="search", feature="answer"):
        with other.start_as_current_span("http GET"):
            pass
    with other.start_as_current_span("outside"):
        pass

    spans = by_name(span_exporter)
    assert spans["http GET"].attributes[ROLE] == "planner"
    assert spans["http GET"].attributes[TEAM] == "search"
    assert spans["http GET"].attributes[FEATURE] == "answer"
    assert ROLE not in spans["outside"].attributes


def test_nested_role_wins_and_inherits_team_and_feature(tracer_provider, span_exporter):
    tracer = tracer_provider.get_tracer("t")
    with role("planner", team="search", feature="answer"):
        with role("critic", feature="review"):
            with tracer.start_as_current_span("inner"):
                pass
            assert current_role().role == "critic"
        with tracer.start_as_current_span("outer-again"):
            pass
    assert current_role() is None

    spans = by_name(span_exporter)
    inner = spans["inner"].attributes
    assert (inner[ROLE], inner[TEAM], inner[FEATURE]) == ("critic", "search", "review")
    outer = spans["outer-again"].attributes
    assert (outer[ROLE], outer[TEAM], outer[FEATURE]) == ("planner", "search", "answer")


def test_role_as_sync_and_async_decorator(tracer_provider, span_exporter):
    tracer = tracer_provider.get_tracer("t")

    @role("worker", team="ops")
    def work() -> str:
        with tracer.start_as_current_span("sync work"):
            return current_role().role

    @role("formatter")
    async def format_it() -> str:
        await asyncio.sleep(0)
        with tracer.start_as_current_span("async format"):
            return current_role().role

    assert work() == "worker"
    assert asyncio.run(format_it()) == "formatter"
    assert work.__name__ == "work"
    spans = by_name(span_exporter)
    assert spans["sync work"].attributes[ROLE] == "worker"
    assert spans["sync work"].attributes[TEAM] == "ops"
    assert spans["async format"].attributes[ROLE] == "formatter"


def test_concurrent_tasks_sharing_one_role_object_do_not_leak(tracer_provider, span_exporter):
    tracer = tracer_provider.get_tracer("t")
    planner = role("planner")

    async def task(name: str, delay: float) -> None:
        async with planner:
            await asyncio.sleep(delay)
            with role(name):
                await asyncio.sleep(delay)
                with tracer.start_as_current_span(f"span {name}"):
                    pass
            assert current_role().role == "planner"
        assert current_role() is None

    async def main() -> None:
        await asyncio.gather(task("a", 0.02), task("b", 0.01), task("c", 0))

    asyncio.run(main())
    spans = by_name(span_exporter)
    assert {name: spans[f"span {name}"].attributes[ROLE] for name in "abc"} == {"a": "a", "b": "b", "c": "c"}


def test_a_pinned_role_tier_goes_on_every_span_a_price_band_only_on_llm_spans(tracer_provider, span_exporter):
    tracer = tracer_provider.get_tracer("openlit")
    with role("formatter", tier="small"):
        with tracer.start_as_current_span("chat gpt-4o", attributes={REQUEST_MODEL: "gpt-4o"}):
            pass
        # Vendors that set the model after start look like this at on_start: it must still get the pin.
        with tracer.start_as_current_span("tool call"):
            pass
    with role("planner"):
        with tracer.start_as_current_span("tool call 2"):
            pass
    spans = by_name(span_exporter)
    assert spans["chat gpt-4o"].attributes[TIER] == "small"  # the role's tier beats gpt-4o's price band
    assert spans["tool call"].attributes[TIER] == "small"  # harmless: the collector drops non-LLM spans
    assert TIER not in spans["tool call 2"].attributes  # no pin, no model: no tier


def test_foreign_llm_span_gets_mapped_or_price_band_tier(tracer_provider, span_exporter):
    tracer = tracer_provider.get_tracer("openinference")
    set_tier_map({"my-finetune": "mid"})
    try:
        with tracer.start_as_current_span("a", attributes={"llm.model_name": "my-finetune"}):
            pass
        with tracer.start_as_current_span("b", attributes={"gen_ai.request.model": "gpt-4o-mini"}):
            pass
        with tracer.start_as_current_span("c", attributes={"gen_ai.request.model": "no-such-model-xyz"}):
            pass
    finally:
        set_tier_map(None)
    spans = by_name(span_exporter)
    assert spans["a"].attributes[TIER] == "mid"
    assert spans["b"].attributes[TIER] == "small"
    assert TIER not in spans["c"].attributes


def test_llm_call_role_argument_overrides_for_that_call(tierscope_tracing, finished_spans):
    with role("planner", team="search"):
        with llm_call(model="gpt-4o", provider="openai", role="critic"):
            assert current_role().role == "critic"
        assert current_role().role == "planner"
    (span,) = finished_spans()
    assert (span.attributes[ROLE], span.attributes[TEAM]) == ("critic", "search")


def test_role_refuses_bad_arguments():
    with pytest.raises(ValueError):
        role("")
    with pytest.raises(ValueError):
        role("planner", tier="gigantic")
    with pytest.raises(TypeError):

        @role("streamer")
        def generate():
            yield 1


def test_foreign_llm_span_inside_our_llm_call_is_marked_duplicate(tierscope_tracing, tracer_provider, span_exporter):
    tracer = tracer_provider.get_tracer("openlit")
    with llm_call(model="gpt-4o", provider="openai") as call:
        with tracer.start_as_current_span("openai.chat", attributes={"gen_ai.system": "openai"}):
            pass
        with tracer.start_as_current_span("POST /v1/chat/completions"):
            pass
    with tracer.start_as_current_span("openai.chat.later", attributes={"gen_ai.system": "openai"}):
        pass
    spans = by_name(span_exporter)
    assert spans["openai.chat"].attributes[DUPLICATE_OF] == call.span_id
    assert DUPLICATE_OF not in spans["POST /v1/chat/completions"].attributes  # not an LLM span
    assert DUPLICATE_OF not in spans["openai.chat.later"].attributes
    assert DUPLICATE_OF not in spans["chat gpt-4o"].attributes
