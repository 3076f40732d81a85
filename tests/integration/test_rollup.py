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


def units(since: datetime, until: datetime) -> list[datetime]:
    """Every 5-minute unit that starts in [since, until)."""
    first = rollup.ceil_unit(since)
    return [first + k * rollup.UNIT for k in range(max(0, (until - first) // rollup.UNIT))]


def pieces(p: rollup.Plan) -> list[tuple[datetime, datetime]]:
    """Every part of plan `p` as a time range, in order: hour rows, unit rows and raw ranges."""
    hours = []
    if p.h0 is not None:
        h = p.h0
        while h < p.h1:
            if h not in p.dirty:
                hours.append((h, h + HOUR))
            h += HOUR
    return sorted([*hours, *((u, u + rollup.UNIT) for u in p.units), *p.raw])


def assert_covers_once(p: rollup.Plan, since: datetime, until: datetime) -> None:
    parts = pieces(p)
    assert parts[0][0] == since and parts[-1][1] == until
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))  # no gap, no overlap


def test_plan_splits_a_range_into_clean_hours_units_and_raw_runs():
    since, until = T + timedelta(minutes=17), T + timedelta(hours=6, minutes=5)
    dirty = [T + timedelta(hours=2), T + timedelta(hours=3), T + timedelta(hours=5), T + timedelta(hours=9)]
    stale = [T + timedelta(hours=2, minutes=10), T + timedelta(hours=2, minutes=15), T + timedelta(hours=5, minutes=55),
             T + timedelta(hours=9)]
    clean = [u for a, b in ((since, T + HOUR), *((d, d + HOUR) for d in dirty), (T + 6 * HOUR, until))
             for u in units(a, b) if u not in stale]
    p = rollup.plan(since, until, dirty, units=clean, stale=stale)
    assert (p.h0, p.h1) == (T + timedelta(hours=1), T + timedelta(hours=6))
    assert p.dirty == (T + timedelta(hours=2), T + timedelta(hours=3), T + timedelta(hours=5))  # 9h is outside
    assert p.raw == ((since, T + timedelta(minutes=20)),  # the ragged start, less than a unit
                     (T + timedelta(hours=2, minutes=10), T + timedelta(hours=2, minutes=20)),  # two stale units
                     (T + timedelta(hours=5, minutes=55), T + timedelta(hours=6)))
    # 0:20-0:55 (8 units), the dirty hours' 36 units but the 3 stale ones, and 6:00 (until is 6:05)
    assert len(p.units) == 8 + 36 - 3 + 1 and p.units[0] == T + timedelta(minutes=20)
    assert p.units[-1] == T + timedelta(hours=6)
    assert_covers_once(p, since, until)

    # a unit with no span (neither clean nor stale) is read whichever way makes fewer raw ranges
    h = T + 2 * HOUR
    at = [h + timedelta(minutes=m) for m in range(0, 60, 5)]
    mixed = rollup.plan(h, h + HOUR, [h], units=[at[0], at[5]], stale=[at[2], at[4]])
    assert mixed.raw == ((at[2], at[5]),)  # 0:15 is between two stale units
    assert mixed.units == (at[0], at[1], *at[5:])  # 0:05 is next to a clean one, 0:30-0:55 too
    assert_covers_once(mixed, h, h + HOUR)

    whole = rollup.plan(T, T + timedelta(hours=3), [])
    assert (whole.raw, whole.units) == ((), ())
    assert rollup.plan(since, until, dirty).units == ()  # no clean unit: the dirty hours are read raw
    short = rollup.plan(since, since + timedelta(minutes=50), [], units=units(T, T + 2 * HOUR))  # no whole hour
    assert short.raw == ((since, T + timedelta(minutes=20)),
                         (T + timedelta(hours=1, minutes=5), T + timedelta(hours=1, minutes=7)))
    assert short.units == tuple(T + timedelta(minutes=20 + 5 * k) for k in range(9))
    assert_covers_once(short, since, since + timedelta(minutes=50))
    assert rollup.plan(since, since + timedelta(minutes=2), []).raw == ((since, since + timedelta(minutes=2)),)
    assert rollup.plan(T, T + timedelta(hours=3), [], use_rollup=False).raw == ((T, T + timedelta(hours=3)),)


def test_at_most_and_without_keep_every_instant_in_exactly_one_part():
    since, until = T + timedelta(minutes=17), T + timedelta(hours=30, minutes=5)
    dirty = [T + timedelta(hours=h) for h in (2, 3, 7, 20)]
    stale = [T + timedelta(hours=h, minutes=m) for h, m in ((2, 10), (3, 40), (7, 0), (20, 55))]
    clean = [u for a, b in ((since, T + HOUR), *((d, d + HOUR) for d in dirty), (T + 30 * HOUR, until))
             for u in units(a, b) if u not in stale]
    p = rollup.plan(since, until, dirty, units=clean, stale=stale)
    assert len(p.raw) == 5
    for n in (4, 3, 2, 1):
        joined = rollup.at_most(p, n)
        assert len(joined.raw) == n
        assert_covers_once(joined, since, until)
    one = rollup.at_most(p, 1)
    assert one.raw == ((since, T + timedelta(hours=21)),) and one.units == tuple(
        T + timedelta(hours=30) + timedelta(minutes=5 * k) for k in range(1))
    apart = rollup.without(p, [T + timedelta(hours=9, minutes=30), T + timedelta(hours=2, minutes=5)], since, until)
    assert T + timedelta(hours=9) in apart.dirty and not [u for u in apart.units if rollup.floor_hour(u) in (
        T + timedelta(hours=9), T + timedelta(hours=2))]
    assert_covers_once(apart, since, until)


def test_whole_hour_time_zones_are_aligned_and_half_hour_ones_are_not():
    assert rollup.hour_aligned("UTC") and rollup.hour_aligned("Europe/Paris")
    assert rollup.hour_aligned("America/Los_Angeles", [T])
    assert not rollup.hour_aligned("Asia/Kolkata") and not rollup.hour_aligned("Asia/Kathmandu")


def test_a_store_keyed_the_old_way_is_re_keyed_with_its_rows(tmp_path):
    """A store created before migration 0004 (keyed by trace) keeps every row, gets the unit-first
    key (0004, then 0017), and all its units start dirty."""
    from test_views import migrate_the_old_way

    from tierscope.collector.store.clickhouse import migrations, split_statements

    store = Store(f"chdb:{tmp_path / 'old'}")
    assert migrate_the_old_way(store, 3)[-1] == "0003_alerts"  # then rebuild llm_spans the pre-0004 way
    store.command("DROP TABLE llm_spans")
    old_ddl = next(text for version, _, text in migrations() if version == 1).replace(
        "ORDER BY (tenant, toStartOfFiveMinutes(start_time), trace_id, span_id)", "ORDER BY (tenant, trace_id, span_id)")
    assert "ORDER BY (tenant, trace_id, span_id)" in old_ddl
    store.command(split_statements(old_ddl)[0])
    store.command("INSERT INTO llm_spans (tenant, trace_id, span_id, start_time, model, cost_usd, priced) "
                  "SELECT 'default', hex(number), 'a', toDateTime64('2026-11-01 00:00:00', 9, 'UTC') + number * 600, "
                  "'gpt-4o', toDecimal128(number, 18) / 1000, true FROM numbers(30)")
    assert store.migrate() == [name for version, name, _ in migrations() if version > 3]
    key = store.rows("SELECT sorting_key FROM system.tables WHERE name = 'llm_spans' AND database = currentDatabase()")
    assert key == [("tenant, toStartOfFiveMinutes(start_time), trace_id, span_id",)]
    assert store.rows("SELECT count(), sum(cost_usd) FROM llm_spans") == [(30, Decimal("0.435"))]
    assert store.rows("SELECT count() FROM rollup_marks") == [(30,)]  # every unit with a span, 10 minutes apart
    assert rollup.refresh(store) == 5  # 30 spans, 10 minutes apart: 5 hours
    total = api.spend(store, {"by": "model"}, "default")["total"]
    assert (total["spans"], total["cost_usd"]) == (30, "0.435")
    store.close()


def test_the_open_unit_is_left_to_raw_reads_and_the_open_hour_to_its_units(tmp_path):
    """A refresh recomputes ended units only and sums ended hours only: the unit still being written
    stays dirty (read raw), the rest of the open hour is read from its units' rows."""
    import pyarrow as pa

    store = Store(f"chdb:{tmp_path / 'open'}")
    store.migrate()
    open_hour, last_hour = T + timedelta(hours=5), T + timedelta(hours=3)
    now = open_hour + timedelta(minutes=7)  # 5:00-5:05 ended (and settled), 5:05-5:10 open
    starts = [open_hour + timedelta(seconds=1), open_hour + timedelta(minutes=6), last_hour + timedelta(minutes=5)]
    store.command("INSERT INTO llm_spans (tenant, trace_id, span_id, start_time, model, cost_usd, priced) "
                  "SELECT 'default', toString(number), 'a', {t:Array(DateTime64(9, 'UTC'))}[number + 1], 'm', 1, true "
                  "FROM numbers(3)", {"t": starts})
    store.mark_units(pa.table({"tenant": ["default"] * 3, "start_time": pa.array(starts, pa.timestamp("ns", tz="UTC"))}))
    assert rollup.refresh(store, now=now) == 1  # the 3:00 hour; 5:00 has not ended
    parts = rollup.dirty_parts(store, "default", last_hour, open_hour + HOUR)
    assert parts == ({open_hour}, {open_hour}, {open_hour + timedelta(minutes=5)})  # 5:00 is clean, 5:05 is not
    scope = {"tenant": "default", "since": last_hour, "until": now}
    p = rollup.current_plan(store, scope)
    assert (p.h0, p.h1, p.dirty) == (last_hour, open_hour, ())
    assert p.units == (open_hour,) and p.raw == ((open_hour + timedelta(minutes=5), now),)
    q = {"by": "model", "since": last_hour.isoformat(), "until": now.isoformat()}
    assert api.spend(store, q, "default")["total"]["spans"] == 3
    store.execute("rollup_stamp", {"tenant": "default", "hours": [open_hour], "minutes": 5, "version": 1,
                                   "units": [], "versions": []})  # an older refresh of the unit: not current
    assert rollup.current_plan(store, scope).units == (open_hour,)
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
        store.mark_units(pa.table({"tenant": ["default"],
                                   "start_time": pa.array([start], pa.timestamp("ns", tz="UTC"))}))
        added += 1

    def refresh() -> int:
        return rollup.refresh(store, quiet=quiet, max_wait=max_wait)

    change_the_hour()
    assert refresh() == 1  # never recomputed: due at once
    change_the_hour()
    assert refresh() == 0  # changed a moment ago: left for later, read raw meanwhile
    assert rollup.dirty_parts(store, "default", hour, hour + HOUR) == ({hour}, set(), {hour})  # its one unit is not clean
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
    # max_wait runs from the last refresh's start (its version), a refresh's length before `last`; still past quiet
    assert len(recomputed_after) == 1 and recomputed_after[0] >= max_wait.total_seconds() - 1.0 > quiet.total_seconds()
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
    assert rollup.dirty_parts(store, "default", T - timedelta(days=3), T + timedelta(days=3)) == (set(), set(), set())
    assert snapshot(store, use_rollup=True) == _approx_quality(raw)  # now from the rollup

    # A retried batch (the same spans again) changes nothing; new spans and late quality on an
    # already-refreshed hour show at once (the hour is dirty, read raw) and after the next refresh.
    retried = store.arrow("SELECT * FROM llm_spans FINAL ORDER BY span_id LIMIT 50")
    store.insert("llm_spans", retried)  # what a retried OTLP batch becomes: the same keys again
    assert rollup.dirty_parts(store, "default", T - timedelta(days=3), T + timedelta(days=3))[0]
    assert snapshot(store, use_rollup=True) == _approx_quality(raw)
    rollup.refresh(store)
    assert snapshot(store, use_rollup=True) == _approx_quality(raw)
    export(collector.url, spans(8, 30, "2026-11-10T00:00:00Z", "2026-11-10T06:00:00Z"))
    first = store.rows("SELECT trace_id, span_id, start_time FROM llm_spans ORDER BY start_time LIMIT 1")[0]
    store.insert("quality_events", _quality_event(first[0], first[1], 0.125))
    changed = snapshot(store, use_rollup=False)
    assert changed != raw
    assert snapshot(store, use_rollup=True) == _approx_quality(changed)
    # Summed in slices of at most 4 dimension combinations per statement (every one of these hours
    # has more; their units, a span or two each, have fewer), as the refresher does for an hour with
    # many: the same answers.
    sizes = store.query("rollup_merge_groups", {"tenant": "default", "since": T - timedelta(days=3),
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
    units = [since + k * rollup.UNIT for k in range((until - since) // rollup.UNIT)]
    columns = ("hour, role, tier, model, provider, team, feature, service, environment, spans, input_tokens, "
               "output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, unpriced_spans, "
               "unpriced_tokens, quality_sum, quality_n, first_span, last_span")

    def fill(version: int, parts: int) -> list[int]:
        counts = []
        for part in range(parts):
            store.execute("rollup_fill", {"tenant": "slices", "since": since, "until": until, "version": version,
                                          "units": units, "parts": parts, "part": part})
            counts.append(store.rows("SELECT count() FROM spend_rollup WHERE tenant = 'slices' AND version = {v:UInt64}",
                                     {"v": version})[0][0] - sum(counts))
        return counts

    def rows(version: int) -> list[tuple]:
        return store.rows(f"SELECT {columns} FROM spend_rollup WHERE tenant = 'slices' AND version = {{v:UInt64}} "
                          f"ORDER BY {columns}", {"v": version})

    try:
        (whole,) = fill(1, 1)
        one_statement = rows(1)  # read before version 2 exists: a merge may drop these rows after
        sliced = fill(2, 5)
        assert whole > 500 and len(sliced) == 5 and all(n > 0 for n in sliced) and sum(sliced) == whole
        assert sum(r[19] for r in one_statement) == 120  # quality_n: the late grades are in
        assert rows(2) == one_statement
    finally:
        for table in ("llm_spans", "quality_events", "spend_rollup", "rollup_marks", "rollup_stamps"):
            store.command(f"ALTER TABLE {table} DELETE WHERE tenant = 'slices' SETTINGS mutations_sync = 1")


def test_an_insert_runs_beside_a_long_statement_and_is_marked(collector):
    """The store has no lock of its own: an insert (with its hour's mark) runs while another thread's
    statement is in the engine, as ingest does beside a rollup fill or a slow read."""
    import threading

    store = collector.collector.store
    one = store.arrow("SELECT * FROM llm_spans FINAL WHERE tenant = 'default' LIMIT 1")  # a stored span, as Arrow
    table = one.set_column(one.schema.get_field_index("tenant"), "tenant", pa.array(["beside"]))
    start = datetime.fromtimestamp(table["start_time"][0].value // 10**9, UTC)
    hour = rollup.floor_hour(start)
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
        assert rollup.dirty_parts(store, "beside", hour, hour + HOUR) == ({hour}, set(), {rollup.floor_unit(start)})
    finally:
        for table_name in ("llm_spans", "rollup_marks"):
            store.command(f"ALTER TABLE {table_name} DELETE WHERE tenant = 'beside' SETTINGS mutations_sync = 1")


def test_fill_batches_keep_each_statement_under_the_group_limit():
    h = [datetime(2026, 11, 9, i, tzinfo=UTC) for i in range(6)]
    groups = {h[0]: 30, h[1]: 50, h[2]: 250, h[3]: 10, h[5]: 70}  # h[4] has no spans (a late mark only)
    assert rollup.fill_batches(h, groups, chunk_hours=24, limit=100) == [
        ([h[0], h[1]], 1), ([h[2]], 3), ([h[3], h[4], h[5]], 1)]
    assert rollup.fill_batches(h, groups, chunk_hours=2, limit=100) == [
        ([h[0], h[1]], 1), ([h[2]], 3), ([h[3], h[4]], 1), ([h[5]], 1)]  # at most two a statement
    assert rollup.fill_batches([h[5], h[0]], {}, limit=100) == [([h[0], h[5]], 1)]  # in time order, gaps or not
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


def test_a_quality_event_sent_again_counts_as_its_latest_copy_merged_or_not(collector):
    """Late events are deduplicated by aggregation, not FINAL: of two copies of one event (same id),
    the one ingested last counts, even when the other claims a later event time; the same after the
    engine merges them, and in the rollup (the span's unit is recomputed)."""
    import pyarrow as pa

    store = collector.collector.store
    trace_id, span_id, start = store.rows("SELECT trace_id, span_id, start_time FROM llm_spans WHERE tenant = 'default' "
                                          "ORDER BY start_time DESC, span_id LIMIT 1")[0]
    graded = start.replace(tzinfo=UTC) + timedelta(hours=1)  # the grade comes an hour after the call

    def copy(score: float, event_time: datetime, ingested: datetime) -> pa.Table:
        return pa.table({"tenant": ["default"], "trace_id": [trace_id], "span_id": [span_id], "event_id": ["again"],
                         "event_time": pa.array([event_time], pa.timestamp("ns", tz="UTC")), "score": [score],
                         "source": ["user_feedback"], "ingested_at": pa.array([ingested], pa.timestamp("us", tz="UTC"))})

    def quality() -> float:
        (span,) = [s for s in api.trace(store, {}, "default", trace_id)["spans"] if s["span_id"] == span_id]
        return span["quality"]

    store.insert("quality_events", copy(0.125, graded + timedelta(hours=1), graded))
    store.insert("quality_events", copy(0.875, graded, graded + timedelta(seconds=1)))  # sent again, received later
    store.insert("quality_events", copy(0.875, graded, graded + timedelta(seconds=1)))  # and retried
    assert quality() == 0.875
    q = {"since": "2026-11-09T00:00:00Z", "until": "2026-11-12T00:00:00Z"}
    raw = api.spend(store, {**q, "by": "role"}, "default")
    rollup.refresh(store)
    assert api.spend(store, {**q, "by": "role"}, "default") == _approx_quality(raw)
    store.command("OPTIMIZE TABLE quality_events FINAL")
    assert quality() == 0.875
    assert api.spend(store, {**q, "by": "role"}, "default") == _approx_quality(raw)


def test_a_grade_counts_when_it_arrived_at_most_a_day_before_its_span_started(collector):
    """v_spans reads the late events received from a day before its range on (quality_events is keyed
    by that day): a grade sent from a clock an hour behind counts; one stamped as received two days
    before the call started does not, even with the later event time; raw reads and the rollup agree."""
    import pyarrow as pa

    store = collector.collector.store
    trace_id, span_id, start = store.rows("SELECT trace_id, span_id, start_time FROM llm_spans FINAL "
                                          "WHERE tenant = 'default' ORDER BY start_time, span_id LIMIT 1 OFFSET 7")[0]
    start = start.replace(tzinfo=UTC)

    def grade(event_id: str, score: float, event_time: datetime, received: datetime) -> pa.Table:
        return pa.table({"tenant": ["default"], "trace_id": [trace_id], "span_id": [span_id], "event_id": [event_id],
                         "event_time": pa.array([event_time], pa.timestamp("ns", tz="UTC")), "score": [score],
                         "source": ["judge"], "ingested_at": pa.array([received], pa.timestamp("us", tz="UTC"))})

    store.insert("quality_events", grade("skewed", 0.375, start - timedelta(hours=1), start - timedelta(hours=1)))
    store.insert("quality_events", grade("early", 0.0, start + timedelta(hours=5), start - timedelta(days=2)))
    (span,) = [s for s in api.trace(store, {}, "default", trace_id)["spans"] if s["span_id"] == span_id]
    assert span["quality"] == 0.375
    raw = snapshot(store, use_rollup=False)
    rollup.refresh(store)
    assert snapshot(store, use_rollup=True) == _approx_quality(raw)


def test_the_api_reads_the_rollup_for_clean_hours(collector):
    """Plant a row in the rollup under an hour's current version: the API's total moves by exactly it."""
    store = collector.collector.store
    rollup.refresh(store)
    q = {"since": "2026-11-09T00:00:00Z", "until": "2026-11-12T00:00:00Z"}
    before = api.spend(store, {**q, "by": "role"}, "default")["total"]
    hour = datetime(2026, 11, 10, 4, tzinfo=UTC)
    version = store.rows("SELECT max(computed_at) FROM rollup_stamps WHERE tenant = 'default' AND minutes = 60 "
                         "AND hour = {h:DateTime('UTC')}", {"h": hour})[0][0]
    store.command(
        "INSERT INTO spend_rollup (tenant, hour, role, spans, cost_usd, minutes, version) "
        "VALUES ('default', {h:DateTime('UTC')}, 'planted', 3, 1.25, 60, {v:UInt64})", {"h": hour, "v": version})
    try:
        after = api.spend(store, {**q, "by": "role"}, "default")
        assert after["total"]["spans"] == before["spans"] + 3
        assert Decimal(after["total"]["cost_usd"]) == Decimal(before["cost_usd"]) + Decimal("1.25")
        assert any(r["role"] == "planted" for r in after["rows"])
    finally:  # recomputing a unit of the hour drops the planted row (the hour is summed again, a new version)
        store.execute("rollup_mark_units", {"tenants": ["default"], "units": [hour]})
        rollup.refresh(store)
    assert api.spend(store, {**q, "by": "role"}, "default")["total"] == before


@pytest.mark.parametrize("limit,offset", [(1, 0), (25, 0), (100, 40), (500, 120), (10_000, 0)])
def test_newest_spans_read_in_windows_equal_one_query(collector, limit, offset):
    """Windows cut through the data (now = the end of the data): pages that straddle windows, and
    a page larger than everything, equal a single spans_list query over the whole range."""
    store = collector.collector.store
    params = {**api.scope({"since": "2026-11-09T00:00:00Z"}, "default"), "tier": "", "model": "", "provider": "",
              "trace_id": "", "limit": limit, "offset": offset}
    whole = store.query("spans_list", {**params, "keys": []})
    windowed = api.newest_spans(store, params, now=datetime(2026, 11, 11, 23, 30, tzinfo=UTC))
    assert windowed == whole  # every column, quality included: each page's keys first, then their rows
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
    store.execute("rollup_mark_units", {"tenants": ["default"] * len(sparse), "units": sparse})
    q = {"tenant": "default", "since": T - timedelta(days=1), "until": T + timedelta(days=2)}
    hours, clean, stale = rollup.dirty_parts(store, "default", q["since"], q["until"])
    assert hours == stale == set(sparse)  # a mark is a unit's: here, each hour's first; the hours' others are clean
    assert clean and {rollup.floor_hour(u) for u in clean} == hours
    unbounded = rollup.plan(q["since"], q["until"], hours, units=clean, stale=stale)
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
