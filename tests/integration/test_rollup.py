"""The hourly rollup: reads from it equal reads straight from v_spans, to the last decimal, whatever
state it is in (never refreshed, current, stale after late quality or a retried batch), and it is
actually what the read API reads (a planted row shows up).

A real collector (chdb, refresher off so each test drives `refresh` itself) receives spans from the
OpenTelemetry SDK over OTLP/HTTP, including ragged range edges and a non-whole-hour time zone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from support import running_collector
from test_month_close import MODELS, ROLES, TEAMS, export, ns

from tierscope.collector.read import api

from tierscope.collector.store import rollup
from tierscope.collector.read.misrouted import _groups
from tierscope.collector.store.clickhouse import Store

T = datetime(2026, 11, 10, tzinfo=UTC)
HOUR = rollup.HOUR


def test_plan_splits_a_range_into_clean_rollup_hours_and_raw_runs():
    since, until = T + timedelta(minutes=17), T + timedelta(hours=6, minutes=5)
    dirty = [T + timedelta(hours=2), T + timedelta(hours=3), T + timedelta(hours=5), T + timedelta(hours=9)]
    p = rollup.plan(since, until, dirty)
    assert (p.h0, p.h1) == (T + timedelta(hours=1), T + timedelta(hours=6))
    assert p.dirty == (T + timedelta(hours=2), T + timedelta(hours=3), T + timedelta(hours=5))  # 9h is outside
    assert p.raw == ((since, T + timedelta(hours=1)), (T + timedelta(hours=2), T + timedelta(hours=4)),
                     (T + timedelta(hours=5), until))  # the dirty 5h joins the ragged end
    assert rollup.plan(T, T + timedelta(hours=3), []).raw == ()
    assert rollup.plan(since, since + timedelta(minutes=50), []).raw == ((since, since + timedelta(minutes=50)),)
    assert rollup.plan(T, T + timedelta(hours=3), [], use_rollup=False).raw == ((T, T + timedelta(hours=3)),)


def test_whole_hour_time_zones_are_aligned_and_half_hour_ones_are_not():
    assert rollup.hour_aligned("UTC") and rollup.hour_aligned("Europe/Paris")
    assert rollup.hour_aligned("America/Los_Angeles", [T])
    assert not rollup.hour_aligned("Asia/Kolkata") and not rollup.hour_aligned("Asia/Kathmandu")


def test_a_store_keyed_the_old_way_is_re_keyed_with_its_rows(tmp_path):
    """A store created before migration 0004 (keyed by trace) keeps every row, gets the hour-first
    key, and all its hours start dirty."""
    from tierscope.collector.store.clickhouse import migrations, split_statements

    store = Store(f"chdb:{tmp_path / 'old'}")
    store.migrate()  # fresh: final schema; rebuild llm_spans the pre-0004 way
    store.command("DROP TABLE llm_spans")
    old_ddl = next(text for version, _, text in migrations() if version == 1).replace(
        "ORDER BY (tenant, toStartOfHour(start_time), trace_id, span_id)", "ORDER BY (tenant, trace_id, span_id)")
    store.command(split_statements(old_ddl)[0])
    store.command("INSERT INTO llm_spans (tenant, trace_id, span_id, start_time, model, cost_usd, priced) "
                  "SELECT 'default', hex(number), 'a', toDateTime64('2026-11-01 00:00:00', 9, 'UTC') + number * 600, "
                  "'gpt-4o', toDecimal128(number, 18) / 1000, true FROM numbers(30)")
    store.command("TRUNCATE TABLE rollup_marks")
    # 0011, 0014 and 0015 add columns to the old table
    store.command("DELETE FROM schema_migrations WHERE version IN (4, 11, 14, 15)")
    assert store.migrate() == ["0004_hourly_rollup", "0011_service_tier", "0014_failover", "0015_levers"]
    key = store.rows("SELECT sorting_key FROM system.tables WHERE name = 'llm_spans' AND database = currentDatabase()")
    assert key == [("tenant, toStartOfHour(start_time), trace_id, span_id",)]
    assert store.rows("SELECT count(), sum(cost_usd) FROM llm_spans") == [(30, Decimal("0.435"))]
    assert rollup.refresh(store) == 5  # 30 spans, 10 minutes apart: 5 hours
    total = api.spend(store, {"by": "model"}, "default")["total"]
    assert (total["spans"], total["cost_usd"]) == (30, "0.435")
    store.close()


def test_the_open_hour_is_left_to_raw_reads(tmp_path):
    """A refresh recomputes ended hours only; the hour still being written stays dirty (read raw)."""
    import pyarrow as pa

    store = Store(f"chdb:{tmp_path / 'open'}")
    store.migrate()
    now = datetime.now(UTC)
    open_hour, last_hour = rollup.floor_hour(now), rollup.floor_hour(now) - timedelta(hours=2)
    starts = [open_hour + timedelta(seconds=1), last_hour + timedelta(minutes=5)]
    store.command("INSERT INTO llm_spans (tenant, trace_id, span_id, start_time, model, cost_usd, priced) "
                  "SELECT 'default', toString(number), 'a', {t:Array(DateTime64(9, 'UTC'))}[number + 1], 'm', 1, true "
                  "FROM numbers(2)", {"t": starts})
    store.mark_hours(pa.table({"tenant": ["default", "default"],
                               "start_time": pa.array(starts, pa.timestamp("ns", tz="UTC"))}))
    assert rollup.refresh(store) == 1
    assert rollup.dirty_hours(store, "default", last_hour, open_hour + timedelta(hours=1)) == [open_hour]
    assert api.spend(store, {"by": "model"}, "default")["total"]["spans"] == 2
    store.close()


def test_due_waits_for_quiet_or_for_max_wait():
    s = 1_000_000_000
    quiet, max_wait = timedelta(seconds=30), timedelta(minutes=5)
    assert rollup.due(marked_at=100 * s, computed_at=0, now=101 * s, quiet=quiet, max_wait=max_wait)  # never computed
    assert not rollup.due(marked_at=100 * s, computed_at=90 * s, now=101 * s, quiet=quiet, max_wait=max_wait)
    assert rollup.due(marked_at=100 * s, computed_at=90 * s, now=130 * s, quiet=quiet, max_wait=max_wait)  # quiet
    assert rollup.due(marked_at=389 * s, computed_at=90 * s, now=390 * s, quiet=quiet, max_wait=max_wait)  # overdue
    assert rollup.due(marked_at=100 * s, computed_at=90 * s, now=101 * s, quiet=timedelta(0), max_wait=max_wait)


def test_an_ended_hour_that_keeps_changing_is_recomputed_once_quiet_and_never_starved(tmp_path):
    """A backfill or replay changes an ended hour every few seconds. The refresher leaves it to raw
    reads (still exact) until it has been left alone for `quiet`, or its last recompute is
    `max_wait` old, instead of rescanning the hour on every tick."""
    import pyarrow as pa

    store = Store(f"chdb:{tmp_path / 'busy'}")
    store.migrate()
    hour = rollup.floor_hour(datetime.now(UTC)) - timedelta(hours=3)
    quiet, max_wait = timedelta(seconds=3), timedelta(seconds=5)
    added = 0

    def change_the_hour() -> None:
        nonlocal added
        start = hour + timedelta(seconds=added)
        store.command("INSERT INTO llm_spans (tenant, trace_id, span_id, start_time, model, cost_usd, priced) "
                      "VALUES ('default', {t:String}, 'a', {s:DateTime64(9, 'UTC')}, 'm', 1, true)",
                      {"t": f"trace-{added}", "s": start})
        store.mark_hours(pa.table({"tenant": ["default"],
                                   "start_time": pa.array([start], pa.timestamp("ns", tz="UTC"))}))
        added += 1

    def refresh() -> int:
        return rollup.refresh(store, quiet=quiet, max_wait=max_wait)

    change_the_hour()
    assert refresh() == 1  # never recomputed: due at once
    change_the_hour()
    assert refresh() == 0  # changed a moment ago: left for later, read raw meanwhile
    assert rollup.dirty_hours(store, "default", hour, hour + HOUR) == [hour]
    assert api.spend(store, {"by": "model"}, "default")["total"]["spans"] == 2
    time.sleep(quiet.total_seconds() + 0.2)
    assert refresh() == 1  # quiet long enough
    last = time.monotonic()

    recomputed_after = []  # a change every 0.3 s: never quiet, so only max_wait brings it up to date
    while time.monotonic() - last < max_wait.total_seconds() + 2:
        change_the_hour()
        if refresh():
            recomputed_after.append(time.monotonic() - last)
        time.sleep(0.3)
    assert len(recomputed_after) == 1 and recomputed_after[0] >= max_wait.total_seconds() - 0.5
    assert api.spend(store, {"by": "model"}, "default")["total"]["spans"] == added
    store.close()


def test_stats_report_what_the_refresher_did(tmp_path):
    """/api/v1/stats says how many hours the collector's refresher recomputed (None when it is off)."""
    import httpx

    with running_collector(tmp_path / "store", rollup_interval_s=0.2, alert_interval_s=0) as running:
        export(running.url, spans(3, 40, "2026-11-09T00:00:00Z", "2026-11-09T03:00:00Z"))
        deadline = time.monotonic() + 30
        while (stats := httpx.get(f"{running.url}/api/v1/stats").json())["rollup_hours_refreshed"] < 3:
            assert time.monotonic() < deadline, stats
            time.sleep(0.2)
        assert stats["rollup_error"] == "" and stats["rollup_statements"] >= 2  # a rollup fill and a task fill
        assert stats["store_memory_bytes"] > 0  # what the embedded engine tracks as in use
    with running_collector(tmp_path / "store", rollup_interval_s=0, alert_interval_s=0) as running:
        stats = httpx.get(f"{running.url}/api/v1/stats").json()
        assert stats["rollup_hours_refreshed"] is None and stats["rollup_error"] is None
        assert stats["rollup_statements"] is None


def spans(seed: int, n: int, low: str, high: str) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        model, provider = MODELS[rng.integers(len(MODELS))]
        out.append({"start": int(rng.integers(ns(low), ns(high))), "model": model, "provider": provider,
                    "role": ROLES[rng.integers(len(ROLES))], "team": TEAMS[rng.integers(len(TEAMS))],
                    "input": int(rng.integers(1, 50_000)), "output": int(rng.integers(1, 5_000))})
    return out


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator:
    with running_collector(tmp_path_factory.mktemp("rollup") / "store", rollup_interval_s=0,
                           alert_interval_s=0) as running:
        export(running.url, spans(7, 800, "2026-11-09T00:00:00Z", "2026-11-12T00:00:00Z"))
        yield running


SCOPES = [
    {"since": "2026-11-09T03:17:00Z", "until": "2026-11-11T20:42:30Z"},  # ragged both ends
    {"since": "2026-11-09T00:00:00Z", "until": "2026-11-12T00:00:00Z"},  # whole hours only
    {},  # everything
    {"since": "2026-11-10T05:10:00Z", "until": "2026-11-10T05:50:00Z"},  # inside one hour
    {"since": "2026-11-09T00:00:00Z", "role": ["planner", "critic"], "team": ["core"]},
]


# Time series in three zones: UTC; Paris (whole hours from UTC, so its days are read from the rollup);
# Kolkata (+5:30, so always from the raw spans).
SERIES = (("UTC", "hour", "model"), ("UTC", "day", "role,tier"), ("Europe/Paris", "day", "role,tier"),
          ("Europe/Paris", "hour", "model"), ("Asia/Kolkata", "day", "model"))


def snapshot(store: Store, use_rollup: bool) -> list:
    """Every aggregate the dashboard reads, over every scope, with or without the rollup."""
    original = rollup.read

    def forced(*args, **kwargs):
        kwargs["use_rollup"] = use_rollup and kwargs.get("use_rollup", True)
        return original(*args, **kwargs)

    rollup.read = forced
    try:
        out = []
        for q in SCOPES:
            out.append(api.spend(store, {**q, "by": "role,tier,model,team"}, "default"))
            out.append(api.filters(store, q, "default"))
            for tz, bucket, split in SERIES:
                out.append(api.spend_timeseries(store, {**q, "bucket": bucket, "split": split, "tz": tz}, "default"))
            out.append(_groups(store, api.scope(q, "default")))
        return out
    finally:
        rollup.read = original


def _approx_quality(value):
    """Quality means summed in a different order may differ in the last bits of a float."""
    if isinstance(value, dict):
        return {k: (pytest.approx(v, rel=1e-12) if k == "quality_mean" and v is not None else _approx_quality(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_approx_quality(v) for v in value]
    return value


def test_reads_equal_v_spans_before_and_after_refresh_and_after_late_changes(collector):
    store = collector.collector.store
    raw = snapshot(store, use_rollup=False)
    assert raw[0]["total"]["spans"] > 100 and Decimal(raw[0]["total"]["cost_usd"]) > 0

    assert snapshot(store, use_rollup=True) == _approx_quality(raw)  # never refreshed: all dirty, all raw
    hours = rollup.refresh(store)
    assert hours == 72  # three days of hourly spans
    assert rollup.dirty_hours(store, "default", T - timedelta(days=3), T + timedelta(days=3)) == []
    assert snapshot(store, use_rollup=True) == _approx_quality(raw)  # now from the rollup

    # A retried batch (the same spans again) changes nothing; new spans and late quality on an
    # already-refreshed hour show at once (the hour is dirty, read raw) and after the next refresh.
    retried = store.arrow("SELECT * FROM llm_spans FINAL ORDER BY span_id LIMIT 50")
    store.insert("llm_spans", retried)  # what a retried OTLP batch becomes: the same keys again
    assert rollup.dirty_hours(store, "default", T - timedelta(days=3), T + timedelta(days=3))
    assert snapshot(store, use_rollup=True) == _approx_quality(raw)
    rollup.refresh(store)
    assert snapshot(store, use_rollup=True) == _approx_quality(raw)
    export(collector.url, spans(8, 30, "2026-11-10T00:00:00Z", "2026-11-10T06:00:00Z"))
    first = store.rows("SELECT trace_id, span_id, start_time FROM llm_spans ORDER BY start_time LIMIT 1")[0]
    store.insert("quality_events", _quality_event(first[0], first[1], 0.125))
    changed = snapshot(store, use_rollup=False)
    assert changed != raw
    assert snapshot(store, use_rollup=True) == _approx_quality(changed)
    # Recomputed in slices of at most 4 dimension combinations per statement (every one of these
    # hours has more), as the refresher does for an hour with many: the same answers.
    sizes = store.query("rollup_fill_groups", {"tenant": "default", "since": T - timedelta(days=3),
                                               "until": T + timedelta(days=3)})
    assert sum(r["groups"] > 4 for r in sizes) >= 60
    assert rollup.refresh(store, groups_per_fill=4) == 7  # 6 hours of new spans + the graded span's hour
    assert snapshot(store, use_rollup=True) == _approx_quality(changed)


def test_an_hour_filled_in_slices_holds_the_rows_of_one_statement(collector):
    store = collector.collector.store
    # A copy of the spans under a tenant of its own, so the rows filled here (versions 1 and 2)
    # share no key with the refreshed rollup of the other tests (a merge keeps the newest version).
    store.command("INSERT INTO llm_spans SELECT * REPLACE ('slices' AS tenant) "
                  "FROM (SELECT * FROM llm_spans WHERE tenant = 'default')")
    graded = store.rows("SELECT trace_id, span_id FROM llm_spans WHERE tenant = 'slices' ORDER BY span_id LIMIT 120")
    store.insert("quality_events", _quality_events("slices", graded))
    since, until = datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC)
    columns = ("hour, role, tier, model, provider, team, feature, service, environment, spans, input_tokens, "
               "output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, unpriced_spans, "
               "unpriced_tokens, quality_sum, quality_n, first_span, last_span")

    def fill(version: int, parts: int) -> list[int]:
        counts = []
        for part in range(parts):
            store.execute("rollup_fill", {"tenant": "slices", "since": since, "until": until, "version": version,
                                          "parts": parts, "part": part})
            counts.append(store.rows("SELECT count() FROM spend_hourly WHERE tenant = 'slices' AND version = {v:UInt64}",
                                     {"v": version})[0][0] - sum(counts))
        return counts

    def rows(version: int) -> list[tuple]:
        return store.rows(f"SELECT {columns} FROM spend_hourly WHERE tenant = 'slices' AND version = {{v:UInt64}} "
                          f"ORDER BY {columns}", {"v": version})

    try:
        (whole,) = fill(1, 1)
        one_statement = rows(1)  # read before version 2 exists: a merge may drop these rows after
        sliced = fill(2, 5)
        assert whole > 500 and len(sliced) == 5 and all(n > 0 for n in sliced) and sum(sliced) == whole
        assert sum(r[19] for r in one_statement) == 120  # quality_n: the late grades are in
        assert rows(2) == one_statement
    finally:
        for table in ("llm_spans", "quality_events", "spend_hourly", "rollup_marks", "rollup_hours"):
            store.command(f"ALTER TABLE {table} DELETE WHERE tenant = 'slices' SETTINGS mutations_sync = 1")


def test_an_insert_runs_beside_a_long_statement_and_is_marked(collector):
    """The store has no lock of its own: an insert (with its hour's mark) runs while another thread's
    statement is in the engine, as ingest does beside a rollup fill or a slow read."""
    import threading

    store = collector.collector.store
    one = store.arrow("SELECT * FROM llm_spans FINAL WHERE tenant = 'default' LIMIT 1")  # a stored span, as Arrow
    table = one.set_column(one.schema.get_field_index("tenant"), "tenant", pa.array(["beside"]))
    hour = rollup.floor_hour(datetime.fromtimestamp(table["start_time"][0].value // 10**9, UTC))
    slow_done = threading.Event()
    slow = threading.Thread(target=lambda: (store.rows("SELECT sleep(3)"), slow_done.set()))
    try:
        slow.start()
        time.sleep(0.3)  # the sleep is in the engine
        store.insert("llm_spans", table)
        inserted_while_busy = not slow_done.is_set()
        slow.join()
        assert inserted_while_busy  # with one lock around the engine, the insert waited 2.7 s for the sleep
        assert store.rows("SELECT count() FROM llm_spans WHERE tenant = 'beside'") == [(1,)]
        assert rollup.dirty_hours(store, "beside", hour, hour + HOUR) == [hour]
    finally:
        for table_name in ("llm_spans", "rollup_marks"):
            store.command(f"ALTER TABLE {table_name} DELETE WHERE tenant = 'beside' SETTINGS mutations_sync = 1")


def test_fill_batches_keep_each_statement_under_the_group_limit():
    h = [datetime(2026, 11, 9, i, tzinfo=UTC) for i in range(6)]
    groups = {h[0]: 30, h[1]: 50, h[2]: 250, h[3]: 10, h[5]: 70}  # h[4] has no spans (a late mark only)
    assert rollup.fill_batches(h, groups, chunk_hours=24, limit=100) == [
        ([h[0], h[1]], 1), ([h[2]], 3), ([h[3], h[4], h[5]], 1)]
    assert rollup.fill_batches(h, groups, chunk_hours=2, limit=100) == [
        ([h[0], h[1]], 1), ([h[2]], 3), ([h[3]], 1), ([h[4], h[5]], 1)]
    assert rollup.fill_batches([h[5], h[0]], {}, limit=100) == [([h[0]], 1), ([h[5]], 1)]  # not consecutive
    assert rollup.fill_batches(h[:1], {h[0]: 100}, limit=100) == [([h[0]], 1)]  # the limit itself fits


def _quality_events(tenant: str, spans: list[tuple[str, str]]):
    import pyarrow as pa

    now = datetime.now(UTC)
    n = len(spans)
    return pa.table({"tenant": [tenant] * n, "trace_id": [t for t, _ in spans], "span_id": [s for _, s in spans],
                     "event_id": [f"late-{i}" for i in range(n)],
                     "event_time": pa.array([now] * n, pa.timestamp("ns", tz="UTC")),
                     "score": [(i % 8) / 8 for i in range(n)], "source": ["user_feedback"] * n,
                     "ingested_at": pa.array([now] * n, pa.timestamp("us", tz="UTC"))})


def _quality_event(trace_id: str, span_id: str, score: float):
    import pyarrow as pa

    now = datetime.now(UTC)
    return pa.table({"tenant": ["default"], "trace_id": [trace_id], "span_id": [span_id], "event_id": ["late-1"],
                     "event_time": pa.array([now], pa.timestamp("ns", tz="UTC")), "score": [score],
                     "source": ["user_feedback"], "ingested_at": pa.array([now], pa.timestamp("us", tz="UTC"))})


def test_the_api_reads_the_rollup_for_clean_hours(collector):
    """Plant a row in the rollup under an hour's current version: the API's total moves by exactly it."""
    store = collector.collector.store
    rollup.refresh(store)
    q = {"since": "2026-11-09T00:00:00Z", "until": "2026-11-12T00:00:00Z"}
    before = api.spend(store, {**q, "by": "role"}, "default")["total"]
    hour = datetime(2026, 11, 10, 4, tzinfo=UTC)
    version = store.rows("SELECT max(computed_at) FROM rollup_hours WHERE tenant = 'default' AND hour = {h:DateTime('UTC')}",
                         {"h": hour})[0][0]
    store.command(
        "INSERT INTO spend_hourly (tenant, hour, role, spans, cost_usd, version) "
        "VALUES ('default', {h:DateTime('UTC')}, 'planted', 3, 1.25, {v:UInt64})", {"h": hour, "v": version})
    try:
        after = api.spend(store, {**q, "by": "role"}, "default")
        assert after["total"]["spans"] == before["spans"] + 3
        assert Decimal(after["total"]["cost_usd"]) == Decimal(before["cost_usd"]) + Decimal("1.25")
        assert any(r["role"] == "planted" for r in after["rows"])
    finally:  # recomputing the hour drops the planted row (the new version supersedes it)
        store.execute("rollup_mark_hours", {"tenants": ["default"], "hours": [hour]})
        rollup.refresh(store)
    assert api.spend(store, {**q, "by": "role"}, "default")["total"] == before


@pytest.mark.parametrize("limit,offset", [(1, 0), (25, 0), (100, 40), (500, 120), (10_000, 0)])
def test_newest_spans_read_in_windows_equal_one_query(collector, limit, offset):
    """Windows cut through the data (now = the end of the data): pages that straddle windows, and
    a page larger than everything, equal a single spans_list query over the whole range."""
    store = collector.collector.store
    params = {**api.scope({"since": "2026-11-09T00:00:00Z"}, "default"), "tier": "", "model": "", "provider": "",
              "trace_id": "", "limit": limit, "offset": offset}
    whole = store.query("spans_list", params)
    windowed = api.newest_spans(store, params, now=datetime(2026, 11, 11, 23, 30, tzinfo=UTC))
    assert [r["span_id"] for r in windowed] == [r["span_id"] for r in whole]
    assert len(whole) == min(limit, max(0, api.spend(store, {"since": "2026-11-09T00:00:00Z"}, "default")
                                        ["total"]["spans"] - offset))


def test_two_way_timeseries_split_sums_to_the_one_way_split(collector):
    store = collector.collector.store
    q = {"since": "2026-11-09T03:17:00Z", "bucket": "day"}
    two = api.spend_timeseries(store, {**q, "split": "role,tier"}, "default")
    one = api.spend_timeseries(store, {**q, "split": "role"}, "default")
    assert two["split"] == "role,tier" and {r["series2"] for r in two["rows"]} >= {"frontier", "small"}
    summed: dict = {}
    for r in two["rows"]:
        key = (r["bucket"], r["series"])
        summed[key] = summed.get(key, Decimal(0)) + Decimal(r["cost_usd"])
    assert summed == {(r["bucket"], r["series"]): Decimal(r["cost_usd"]) for r in one["rows"]}
    with pytest.raises(api.BadParameter):
        api.spend_timeseries(store, {**q, "split": "role,tier,model"}, "default")



def test_hours_changed_here_and_there_are_read_in_a_few_raw_ranges_with_the_same_answers(collector):
    """Ten changed hours spread over three days: each read makes at most RAW_READS raw queries (the
    nearest ranges joined, the clean hours between them read raw) and answers as v_spans does."""
    store = collector.collector.store
    rollup.refresh(store)
    scopes = (SCOPES[0], SCOPES[4])

    def reads(use_rollup: bool) -> list:
        original = rollup.read
        rollup.read = lambda *a, **kw: original(*a, **{**kw, "use_rollup": use_rollup and kw.get("use_rollup", True)})
        try:
            return [[api.spend(store, {**q, "by": "role,tier,model,team"}, "default"), api.filters(store, q, "default"),
                     api.spend_timeseries(store, {**q, "bucket": "hour", "split": "model", "tz": "Europe/Paris"}, "default"),
                     _groups(store, api.scope(q, "default"))] for q in scopes]
        finally:
            rollup.read = original

    raw = reads(use_rollup=False)
    sparse = [T - timedelta(days=1) + k * 7 * HOUR for k in range(10)]
    store.execute("rollup_mark_hours", {"tenants": ["default"] * len(sparse), "hours": sparse})
    q = {"tenant": "default", "since": T - timedelta(days=1), "until": T + timedelta(days=2)}
    unbounded = rollup.plan(q["since"], q["until"], rollup.dirty_hours(store, "default", q["since"], q["until"]))
    bounded = rollup.current_plan(store, q)
    assert len(unbounded.raw) == 10 and len(bounded.raw) == rollup.RAW_READS
    assert set(sparse) <= set(bounded.dirty)  # every changed hour is still read raw
    queries = []
    original = store.query

    def counted(name, parameters, over_rollup=False):
        queries.append((name, over_rollup))
        return original(name, parameters, over_rollup)

    store.query = counted
    try:
        api.spend(store, {"since": "2026-11-09T00:00:00Z", "until": "2026-11-12T00:00:00Z", "by": "role"}, "default")
    finally:
        del store.query
    assert [name for name, over in queries if name == "spend_by" and not over] == ["spend_by"] * rollup.RAW_READS
    assert reads(use_rollup=True) == _approx_quality(raw)
    rollup.refresh(store)
