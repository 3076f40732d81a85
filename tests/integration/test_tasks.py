"""Cost per task: for every trace, the API's cost equals the Decimal sum of its calls in a raw query,
whatever state the per-task rollup is in (never refreshed, current, in slices, stale after a retried
batch, a late quality event or a reprice), and p50/p95 per day are the nearest-rank quantiles of those
sums. A real collector (refresher off, so each test drives `refresh`) receives the traces from the
OpenTelemetry SDK over OTLP/HTTP; some traces cross an hour's end, some call an unpriced model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import numpy as np
import pytest
from support import running_collector
from test_month_close import MODELS, ROLES, TEAMS, ns

from tierscope.client import ApiClient
from tierscope.collector.pricing.reprice import reprice_store
from tierscope.collector.store import rollup
from tierscope.settings import Settings

FEATURES = ["search", "checkout", "support"]
SINCE, UNTIL = "2026-11-09T00:00:00Z", "2026-11-12T00:00:00Z"
NOW = datetime(2026, 11, 13, tzinfo=UTC)  # injected into refresh: every hour of the data has ended


def tasks(seed: int, n: int) -> list[list[dict]]:
    """`n` traces of 1-6 calls 50 s apart, a fifth of them (4-6 calls) starting two minutes before an
    hour's end and running into the next hour."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if i % 5 == 0:
            start = ns(SINCE) + int(rng.integers(0, 70)) * 3_600_000_000_000 - 120_000_000_000
            start = max(start, ns(SINCE))
        else:
            start = int(rng.integers(ns(SINCE), ns(UNTIL) - 3_600_000_000_000))
        feature = FEATURES[rng.integers(len(FEATURES))]
        calls = []
        for k in range(int(rng.integers(4 if i % 5 == 0 else 1, 7))):
            model, provider = MODELS[rng.integers(len(MODELS))]
            calls.append({"start": start + k * 50_000_000_000, "model": model, "provider": provider,
                          "role": ROLES[rng.integers(len(ROLES))], "team": TEAMS[rng.integers(len(TEAMS))],
                          "feature": feature, "input": int(rng.integers(1, 50_000)),
                          "output": int(rng.integers(1, 5_000))})
        out.append(calls)
    return out


def export_tasks(url: str, traces: list[list[dict]]) -> None:
    """Each trace's calls as LLM spans of one trace (children of its first), through the real SDK."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "agents", "deployment.environment.name": "prod"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces"), max_queue_size=100_000))
    tracer = provider.get_tracer("tasks-test")
    for calls in traces:
        context = None
        for s in calls:
            attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": s["provider"],
                          "gen_ai.request.model": s["model"], "gen_ai.usage.input_tokens": s["input"],
                          "gen_ai.usage.output_tokens": s["output"], "tierscope.role": s["role"],
                          "tierscope.team": s["team"], "tierscope.feature": s["feature"]}
            span = tracer.start_span(f"chat {s['model']}", context=context, start_time=s["start"], attributes=attributes)
            span.end(end_time=s["start"] + 1_000_000)
            context = context or trace.set_span_in_context(span)
    assert provider.force_flush(30_000)
    provider.shutdown()
    httpx.get(f"{url}/api/v1/stats", timeout=60)  # returns once every acknowledged span is in the store


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator:
    folder = tmp_path_factory.mktemp("tasks")
    with running_collector(folder / "store", rollup_interval_s=0, alert_interval_s=0, grpc_port=0) as running:
        export_tasks(running.url, tasks(17, 150))
        yield running


def raw_tasks(store, where: str = "") -> dict[str, dict]:
    """Per trace, from llm_spans FINAL in one plain query: calls, unpriced calls, priced cost, first call."""
    rows = store.rows("SELECT trace_id, count(), countIf(NOT priced), sum(cost_usd), min(start_time) "
                      f"FROM llm_spans FINAL WHERE tenant = 'default' {where} GROUP BY trace_id")
    return {t: {"calls": n, "unpriced": u, "cost": c or Decimal(0), "first": f.replace(tzinfo=UTC)}
            for t, n, u, c, f in rows}


def dearest(api: ApiClient, **q) -> dict[str, dict]:
    rows = api.get("tasks/top", since=SINCE, until=UNTIL, limit=1000, **q)["rows"]
    return {r["trace_id"]: r for r in rows}


def nearest_rank_ok(costs: list[Decimal], value: Decimal, p: int) -> bool:
    """`value` is the p-th percentile of `costs` by nearest rank: at least p% cost no more, fewer than
    p% cost less, and some task costs exactly it."""
    n = len(costs)
    return (value in costs and 100 * sum(c <= value for c in costs) >= p * n
            and 100 * sum(c < value for c in costs) < p * n)


def check(api: ApiClient, store, where: str = "", **q) -> dict[str, dict]:
    """The API equals the raw spans, per trace and per day; returns the raw per-trace figures."""
    raw = raw_tasks(store, where)
    got = dearest(api, **q)
    assert set(got) == set(raw)
    for trace_id, r in raw.items():
        row = got[trace_id]
        assert (row["calls"], row["unpriced_calls"]) == (r["calls"], r["unpriced"])
        assert Decimal(row["priced_cost_usd"]) == r["cost"]
        assert row["cost_usd"] == (None if r["unpriced"] else row["priced_cost_usd"])
        assert datetime.fromisoformat(row["first_span"]) == r["first"]
    ranked = [Decimal(r["priced_cost_usd"]) for r in api.get("tasks/top", since=SINCE, until=UNTIL, limit=20, **q)["rows"]]
    assert ranked == sorted((r["cost"] for r in raw.values()), reverse=True)[:20]

    days: dict[str, list[dict]] = defaultdict(list)
    for r in raw.values():
        days[r["first"].replace(hour=0, minute=0, second=0, microsecond=0).isoformat()].append(r)
    series = api.get("tasks", since=SINCE, until=UNTIL, bucket="day", **q)
    assert [row["bucket"] for row in series["rows"]] == sorted(days)
    for row in series["rows"] + [series["total"]]:
        group = days[row["bucket"]] if "bucket" in row else list(raw.values())
        priced = [r["cost"] for r in group if not r["unpriced"]]
        assert (row["tasks"], row["unpriced_tasks"], row["priced_tasks"]) == (len(group), len(group) - len(priced),
                                                                              len(priced))
        assert Decimal(row["total_usd"]) == sum(priced, Decimal(0))
        for p in (50, 95):
            assert nearest_rank_ok(priced, Decimal(row[f"p{p}_usd"]), p), (p, row)
    return raw


def refresh(store, **kwargs) -> int:
    return rollup.refresh(store, now=NOW, **kwargs)


def test_cost_per_task_equals_the_sum_of_its_calls_in_every_rollup_state(collector, api, tmp_path):
    store = collector.collector.store
    raw = check(api, store)  # never refreshed: every hour is read raw
    assert len(raw) == 150 and any(r["unpriced"] for r in raw.values()) and sum(r["calls"] > 1 for r in raw.values()) > 100
    crossing = store.rows("SELECT count() FROM (SELECT trace_id FROM llm_spans GROUP BY trace_id "
                          "HAVING uniqExact(toStartOfHour(start_time)) > 1)")[0][0]
    assert crossing >= 25  # traces whose calls fall in two hours: summed across the rollup's hours

    hours = store.rows("SELECT uniqExact(toStartOfHour(start_time)) FROM llm_spans")[0][0]
    assert refresh(store) == hours > 50
    assert rollup.dirty_parts(store, "default", datetime(2026, 11, 9, tzinfo=UTC), NOW) == (set(), set(), set())
    assert store.rows("SELECT count() FROM task_rollup")[0][0] >= 150
    assert check(api, store) == raw  # from the rollup, ragged nothing: the range is whole hours

    refresh_sliced = store.rows("SELECT count() FROM task_rollup")[0][0]
    store.execute("rollup_mark_units", {"tenants": ["default"], "units": [datetime(2026, 11, 10, 5, tzinfo=UTC)]})
    assert refresh(store, tasks_per_fill=1) == 1  # every trace of that hour in a slice of its own range
    assert store.rows("SELECT count() FROM task_rollup")[0][0] >= refresh_sliced
    assert check(api, store) == raw

    retried = store.arrow("SELECT * FROM llm_spans FINAL ORDER BY span_id LIMIT 60")
    store.insert("llm_spans", retried)  # a retried OTLP batch: the same keys again
    assert check(api, store) == raw  # its hours dirty, read raw
    refresh(store)
    assert check(api, store) == raw

    graded = store.rows("SELECT trace_id, span_id FROM llm_spans ORDER BY start_time LIMIT 1")[0]
    store.insert("quality_events", _quality_event(*graded))  # late quality: hours dirty, costs unchanged
    assert rollup.dirty_parts(store, "default", datetime(2026, 11, 9, tzinfo=UTC), NOW)[0]
    assert check(api, store) == raw
    refresh(store)

    # A reprice that prices the unpriced model: its tasks get a cost, raw and from the rollup alike.
    prices = tmp_path / "prices.toml"
    prices.write_text('[[prices]]\nmodel = "in-house-llm"\ninput_mtok = 0.3\noutput_mtok = 1.7\n')
    assert reprice_store(store, Settings(prices_file=str(prices)))["changed"] > 0
    repriced = check(api, store)
    assert not any(r["unpriced"] for r in repriced.values()) and repriced != raw
    refresh(store)
    assert check(api, store) == repriced


def test_filters_narrow_the_calls_counted(collector, api):
    store = collector.collector.store
    refresh(store)
    check(api, store, "AND role = 'planner'", role=["planner"])
    check(api, store, "AND feature IN ('search', 'support')", feature=["search", "support"])
    check(api, store, "AND team = 'core' AND feature = 'checkout'", team=["core"], feature=["checkout"])


def test_ragged_ranges_and_dirty_hours_are_read_raw(collector, api):
    store = collector.collector.store
    refresh(store)
    scattered = [datetime(2026, 11, d, h, tzinfo=UTC) for d, h in ((9, 8), (9, 15), (10, 7), (10, 20), (11, 5))]
    store.execute("rollup_mark_units", {"tenants": ["default"] * 5, "units": scattered})
    # two ragged edges and five dirty runs: seven raw ranges, read in RAW_SLOTS (the nearest joined)
    since, until = "2026-11-09T03:17:00Z", "2026-11-11T20:42:30Z"
    raw = raw_tasks(store, f"AND start_time >= '{since[:-1].replace('T', ' ')}' AND start_time < "
                           f"'{until[:-1].replace('T', ' ')}'")
    got = {r["trace_id"]: r for r in api.get("tasks/top", since=since, until=until, limit=1000)["rows"]}
    assert {t: Decimal(r["priced_cost_usd"]) for t, r in got.items()} == {t: r["cost"] for t, r in raw.items()}


def test_buckets_are_the_tasks_first_call_in_the_time_zone(collector, api):
    from zoneinfo import ZoneInfo

    raw = raw_tasks(collector.collector.store)
    for tz, bucket in (("Europe/Paris", "day"), ("Asia/Kolkata", "hour"), ("UTC", "week")):
        zone = ZoneInfo(tz)
        want: dict[datetime, int] = defaultdict(int)
        for r in raw.values():
            local = r["first"].astimezone(zone)
            start = (local.replace(minute=0, second=0, microsecond=0) if bucket == "hour" else
                     local.replace(hour=0, minute=0, second=0, microsecond=0))
            if bucket == "week":
                start = datetime.fromordinal(start.toordinal() - start.weekday()).replace(tzinfo=zone)
            want[start] += 1
        rows = api.get("tasks", since=SINCE, until=UNTIL, bucket=bucket, tz=tz)["rows"]
        assert {datetime.fromisoformat(r["bucket"]): r["tasks"] for r in rows} == want  # the buckets' instants


def test_the_api_reads_the_task_rollup_for_clean_hours(collector, api):
    """A row planted in task_rollup under an hour's current version moves that task's cost by exactly
    its amount: the read takes clean hours from the rollup, not from the spans."""
    store = collector.collector.store
    refresh(store)
    trace_id, hour, version = store.rows(
        "SELECT trace_id, hour, version FROM task_rollup WHERE minutes = 60 AND (hour, version) IN "
        "(SELECT hour, max(computed_at) FROM rollup_stamps WHERE minutes = 60 GROUP BY hour) ORDER BY trace_id LIMIT 1")[0]
    before = dearest(api)[trace_id]
    store.command("INSERT INTO task_rollup (tenant, hour, trace_id, role, feature, spans, cost_usd, first_span, "
                  "last_span, minutes, version) VALUES ('default', {h:DateTime('UTC')}, {t:String}, 'planted', "
                  "'planted', 1, toDecimal128('0.000000000000000007', 18), {h:DateTime('UTC')}, {h:DateTime('UTC')}, "
                  "60, {v:UInt64})",
                  {"h": hour, "t": trace_id, "v": version})
    try:
        after = dearest(api)[trace_id]
        assert Decimal(after["priced_cost_usd"]) - Decimal(before["priced_cost_usd"]) == Decimal("7e-18")
        assert after["calls"] == before["calls"]  # counted from the task's spans (task_calls), not summed
    finally:  # a unit of the hour recomputed and the hour summed again: the planted row is left under
        # an old version, which no read takes
        store.execute("rollup_mark_units", {"tenants": ["default"], "units": [hour.replace(tzinfo=UTC)]})
        refresh(store)
    assert dearest(api)[trace_id] == before


def test_at_most_joins_the_nearest_raw_ranges_and_reads_their_gaps_raw():
    t = datetime(2026, 11, 10, tzinfo=UTC)
    h = rollup.HOUR
    dirty = [t + 3 * h, t + 4 * h, t + 10 * h, t + 12 * h]  # and every unit holds spans changed since its refresh
    p = rollup.plan(t + h / 2, t + 20 * h + h / 2, dirty, stale=[t + k * rollup.UNIT for k in range(21 * 12)])
    assert p.units == () and p.raw == ((t + h / 2, t + h), (t + 3 * h, t + 5 * h), (t + 10 * h, t + 11 * h), (t + 12 * h, t + 13 * h),
                     (t + 20 * h, t + 20 * h + h / 2))
    q = rollup.at_most(p, 4)  # the 1-hour gap 11h-12h is the smallest
    assert q.raw == ((t + h / 2, t + h), (t + 3 * h, t + 5 * h), (t + 10 * h, t + 13 * h), (t + 20 * h, t + 20 * h + h / 2))
    assert q.dirty == (t + 3 * h, t + 4 * h, t + 10 * h, t + 11 * h, t + 12 * h) and (q.h0, q.h1) == (p.h0, p.h1)
    r = rollup.at_most(p, 1)
    assert r.raw == ((p.raw[0][0], p.raw[-1][1]),) and r.dirty == tuple(t + k * h for k in range(1, 20))
    assert rollup.at_most(p, 5) == p


def test_trace_slices_partition_every_id():
    for parts in (1, 2, 3, 7, 16):
        slices = rollup.trace_slices(parts)
        assert len(slices) == parts and slices[0][0] == "" and slices[-1][1] == ""
        assert all(slices[i][1] == slices[i + 1][0] for i in range(parts - 1))
        for trace_id in ("", "0" * 32, "7fffffff" + "f" * 24, "80000000" + "0" * 24, "f" * 32, "not-hex"):
            assert sum(lo <= trace_id and (hi == "" or trace_id < hi) for lo, hi in slices) == 1


def test_the_percentile_levels_select_the_nearest_rank(collector):
    """task_buckets selects its percentiles with quantilesExact at p - 1e-12 (nth_element, no sort):
    for every n up to 2,500 and some large ones, that is the ceil(p x n)-th cheapest, as a sort gives."""
    import re

    from tierscope.collector.store.clickhouse import read_sql

    store = collector.collector.store
    levels = re.search(r"quantilesExactStateIf\(([\d.]+), ([\d.]+)\)", read_sql("queries", "task_buckets")).groups()
    assert [float(x) for x in levels] == pytest.approx([0.5, 0.95], abs=1e-9)
    rank = f"quantilesExact({levels[0]}, {levels[1]})(toDecimal128(v, 18))"
    small = store.rows(f"SELECT n, {rank} FROM (SELECT n, arrayJoin(arrayShuffle(range(1, n + 1))) AS v "
                       "FROM (SELECT number + 1 AS n FROM numbers(2500))) GROUP BY n")
    large = [(n, store.rows(f"SELECT {rank} FROM (SELECT number + 1 AS v FROM numbers({n}))")[0][0])
             for n in (99_999, 100_000, 999_980, 1_000_000, 1_000_001)]
    for n, (p50, p95) in [*small, *large]:
        assert (p50, p95) == (-(-n * 50 // 100), -(-n * 95 // 100)), n


def test_a_bucket_of_unpriced_tasks_has_no_cost_figures(collector, api):
    """Unknown is never $0: a day whose only task has an unpriced call has no total and no percentiles."""
    day = "2026-11-12T05:00:00Z"  # after the module's range, so the other tests' buckets are unchanged
    export_tasks(collector.url, [[{"start": ns(day), "model": "in-house-1", "provider": "acme", "role": "worker",
                                   "team": "core", "feature": "search", "input": 10, "output": 5}]])
    body = api.get("tasks", since="2026-11-12T00:00:00Z", until="2026-11-13T00:00:00Z", bucket="day")
    (row,) = body["rows"]
    assert (row["tasks"], row["unpriced_tasks"], row["priced_tasks"]) == (1, 1, 0)
    assert row["total_usd"] is None and row["p50_usd"] is None and row["p95_usd"] is None
    assert body["total"]["p50_usd"] is None and body["total"]["total_usd"] is None


def test_empty_scope_and_bad_parameters(collector, api):
    from tierscope.client import ApiError

    empty = api.get("tasks", since="2020-01-01T00:00:00Z", until="2020-01-02T00:00:00Z")
    assert empty["rows"] == [] and empty["total"]["tasks"] == 0 and empty["total"]["p50_usd"] is None
    assert api.get("tasks/top", since="2020-01-01T00:00:00Z", until="2020-01-02T00:00:00Z")["rows"] == []
    with pytest.raises(ApiError, match="bucket must be one of"):
        api.get("tasks", bucket="minute")
    with pytest.raises(ApiError, match="limit must be between"):
        api.get("tasks/top", limit=0)


def _quality_event(trace_id: str, span_id: str):
    import pyarrow as pa

    now = datetime.now(UTC)
    return pa.table({"tenant": ["default"], "trace_id": [trace_id], "span_id": [span_id], "event_id": ["late-1"],
                     "event_time": pa.array([now], pa.timestamp("ns", tz="UTC")), "score": [0.25],
                     "source": ["user_feedback"], "ingested_at": pa.array([now], pa.timestamp("us", tz="UTC"))})

