"""Finance's month close over the read API: exact reconciliation and month boundaries by time zone.

A real collector (chdb) receives spans from the OpenTelemetry SDK over OTLP/HTTP, then
GET /api/v1/month is checked against itself (rows, subtotals, total) and against the spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import numpy as np
import pytest

from tierscope.client import ApiClient
from support import mark_every_hour, running_collector, settle_rollup
from tierscope.collector.read.months import month_bounds, month_close
from tierscope.collector.server.background import BackgroundCollector
from tierscope.collector.store import rollup

MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", "anthropic"),
          ("claude-3-5-haiku-latest", "anthropic"), ("in-house-llm", "acme")]  # the last is unpriced
TEAMS = ["core", "growth", "search"]
ROLES = ["planner", "worker", "formatter", "critic"]


def ns(text: str) -> int:
    """Nanoseconds since the epoch of an ISO time, exactly (no float on the way)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    whole = datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, tzinfo=value.tzinfo)
    return int(whole.timestamp()) * 1_000_000_000 + value.microsecond * 1000


# Edge spans, each with a role of its own so a test can see which month it landed in.
EDGES = {
    "edge-utc-oct-last": "2026-10-31T23:59:59.999Z",  # October in UTC, November in Paris (00:59:59.999)
    "edge-utc-nov-first": "2026-11-01T00:00:00.000Z",
    "edge-paris-oct-last": "2026-10-31T22:59:59.999Z",  # 23:59:59.999 CET, the last instant of October
    "edge-paris-nov-first": "2026-10-31T23:00:00.000Z",  # 00:00 CET on 1 November; still October in UTC
    "edge-paris-mar-last": "2026-03-31T21:59:59.999Z",  # 23:59:59.999 CEST (summer time)
    "edge-paris-apr-first": "2026-03-31T22:00:00.000Z",
}


def export(url: str, spans: list[dict]) -> None:
    """Send spans through the real OpenTelemetry SDK and OTLP/HTTP exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "agents", "deployment.environment.name": "prod"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces"), max_queue_size=100_000))
    tracer = provider.get_tracer("month-close-test")
    for s in spans:
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": s["provider"],
                      "gen_ai.request.model": s["model"], "gen_ai.usage.input_tokens": s["input"],
                      "gen_ai.usage.output_tokens": s["output"], "tierscope.role": s["role"], "tierscope.team": s["team"]}
        span = tracer.start_span(f"chat {s['model']}", start_time=s["start"], attributes=attributes)
        span.end(end_time=s["start"] + 1_000_000)
    assert provider.force_flush(30_000)
    provider.shutdown()
    httpx.get(f"{url}/api/v1/stats", timeout=60)  # returns once every acknowledged span is in the store


def random_spans(rng: np.random.Generator, n: int) -> list[dict]:
    low, high = ns("2026-08-25T00:00:00Z"), ns("2026-11-20T00:00:00Z")
    spans = []
    for _ in range(n):
        model, provider = MODELS[rng.integers(len(MODELS))]
        spans.append({"start": int(rng.integers(low, high)), "model": model, "provider": provider,
                      "role": ROLES[rng.integers(len(ROLES))], "team": TEAMS[rng.integers(len(TEAMS))],
                      "input": int(rng.integers(1, 50_000)), "output": int(rng.integers(1, 5_000))})
    return spans


@pytest.fixture(scope="module", params=["raw", "rollup"])
def collector(request, tmp_path_factory) -> Iterator[BackgroundCollector]:
    """The spans in a collector whose rollup is in one known state (its refresher off): every hour
    changed and not yet recomputed, so every read comes from v_spans ("raw"); or every hour
    recomputed, so whole hours come from the rollup and only ragged edges from v_spans ("rollup").
    Every test runs against both: the month close reconciles exactly either way."""
    path = tmp_path_factory.mktemp("month") / "store"
    with running_collector(path, grpc_port=0, rollup_interval_s=0, alert_interval_s=0) as running:
        spans = random_spans(np.random.default_rng(20261123), 600)
        spans += [{"start": ns(t), "model": "gpt-4o", "provider": "openai", "role": role, "team": "edge",
                   "input": 1234, "output": 321} for role, t in EDGES.items()]
        export(running.url, spans)
        store = running.collector.store
        if request.param == "raw":
            mark_every_hour(store)
            assert not store.rows("SELECT count() FROM rollup_stamps")[0][0]
        else:
            assert settle_rollup(store) > 5000  # 31 March to 19 November, empty hours included
            since, until = month_bounds("2026-03", "UTC")[0], month_bounds("2026-11", "UTC")[1]
            assert rollup.dirty_parts(store, "default", since, until)[0] == set()
        yield running


def d(value: str | None) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)


@pytest.mark.parametrize("month,tz", [("2026-09", "UTC"), ("2026-10", "UTC"), ("2026-10", "Europe/Paris"),
                                      ("2026-11", "America/Los_Angeles")])
def test_rows_sum_to_the_grand_total_and_subtotals_reconcile(api, month, tz):
    close = api.get("month", month=month, tz=tz)
    rows, subtotals, total = close["rows"], close["subtotals"], close["total"]
    assert rows and close["by"] == ["team", "role", "model"]
    assert sum(d(r["cost_usd"]) for r in rows) == d(total["cost_usd"])
    assert sum(d(s["cost_usd"]) for s in subtotals) == d(total["cost_usd"])
    assert sum(d(r["previous_cost_usd"]) for r in rows) <= d(total["previous_cost_usd"])  # gone groups count too
    for sub in subtotals:
        part = [r for r in rows if r["team"] == sub["team"]]
        assert sum(d(r["cost_usd"]) for r in part) == d(sub["cost_usd"])
        assert sum(r["spans"] for r in part) == sub["spans"]
    for r in rows:
        assert d(r["change_usd"]) == d(r["cost_usd"]) - d(r["previous_cost_usd"])
    assert sum(r["spans"] for r in rows) == total["spans"]
    assert close["share_unpriced"] == pytest.approx(total["unpriced_spans"] / total["spans"])
    assert total["unpriced_spans"] > 0  # in-house-llm is counted, not hidden at $0

    # ... and the total is the exact sum of the month's individual span costs.
    spans = api.get("spans", since=close["since"], until=close["until"], limit=10_000)["rows"]
    assert len(spans) == total["spans"]
    assert sum(d(s["cost_usd"]) for s in spans) == d(total["cost_usd"])


def test_months_partition_the_spend(api):
    for tz in ("UTC", "Europe/Paris"):
        closes = [api.get("month", month=m, tz=tz) for m in ("2026-08", "2026-09", "2026-10", "2026-11")]
        whole = api.get("spend", by="team", since=closes[0]["since"], until=closes[-1]["until"])["total"]
        assert sum(d(c["total"]["cost_usd"]) for c in closes) == d(whole["cost_usd"])
        assert sum(c["total"]["spans"] for c in closes) == whole["spans"] == 604  # all but the two March edges


def edge_roles(api: ApiClient, month: str, tz: str) -> set[str]:
    close = api.get("month", month=month, tz=tz, team="edge")
    return {r["role"] for r in close["rows"]}


def test_month_boundaries_in_utc(api):
    assert edge_roles(api, "2026-10", "UTC") == {"edge-utc-oct-last", "edge-paris-oct-last", "edge-paris-nov-first"}
    assert edge_roles(api, "2026-11", "UTC") == {"edge-utc-nov-first"}
    assert edge_roles(api, "2026-03", "UTC") == {"edge-paris-mar-last", "edge-paris-apr-first"}


def test_month_boundaries_in_paris(api):
    assert edge_roles(api, "2026-10", "Europe/Paris") == {"edge-paris-oct-last"}
    assert edge_roles(api, "2026-11", "Europe/Paris") == {"edge-paris-nov-first", "edge-utc-oct-last",
                                                          "edge-utc-nov-first"}
    assert edge_roles(api, "2026-03", "Europe/Paris") == {"edge-paris-mar-last"}  # summer time, UTC+2
    assert edge_roles(api, "2026-04", "Europe/Paris") == {"edge-paris-apr-first"}
    close = api.get("month", month="2026-10", tz="Europe/Paris")
    assert (close["since"], close["until"]) == ("2026-09-30T22:00:00+00:00", "2026-10-31T23:00:00+00:00")


def test_month_over_month_change(api):
    october, november = (api.get("month", month=m, by="team") for m in ("2026-10", "2026-11"))
    previous = {r["team"]: d(r["cost_usd"]) for r in october["rows"]}
    for r in november["rows"]:
        assert d(r["previous_cost_usd"]) == previous.get(r["team"], Decimal(0))
    assert d(november["total"]["previous_cost_usd"]) == d(october["total"]["cost_usd"])


def test_run_rate_forecast(collector):
    store = collector.collector.store
    done = month_close(store, "default", "2026-10", ["team"], "UTC", {})
    assert done["complete"] and done["forecast_usd"] == done["total"]["cost_usd"]
    halfway = datetime(2026, 9, 16, tzinfo=UTC)  # 15 of September's 30 days elapsed
    running = month_close(store, "default", "2026-09", ["team"], "UTC", {}, now=halfway)
    assert not running["complete"]
    assert Decimal(running["forecast_usd"]) == (2 * Decimal(running["total"]["cost_usd"])).quantize(Decimal("0.000001"))


def test_bad_month_is_a_clear_400(api):
    from tierscope.client import ApiError

    with pytest.raises(ApiError, match="month must look like 2026-11"):
        api.get("month", month="October")
    with pytest.raises(ApiError, match="tz must be an IANA time zone"):
        api.get("month", month="2026-10", tz="Mars/Olympus")
