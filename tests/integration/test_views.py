"""Views are defined once, in sql/views, and `migrate` creates every one each time it runs.

A store built by the migrations as they stood when they still created the views (the statements of
the migrations that did are kept in old_migrations/, so the test needs neither git history nor a
network; the table migrations are the same files as ever) migrates to the new layout with nothing
to apply, keeps its data, and answers every named read exactly as before and exactly as a new store
holding the same rows does, rollup included. Migrating again changes nothing. Every store holds
every view, with the columns it is meant to have.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tierscope.terms import LEVER_MONEY
from tierscope.collector.store import rollup
from tierscope.collector.store.clickhouse import (
    MIGRATIONS_TABLE_DDL,
    RETIRED_VIEWS,
    VIEWS,
    Store,
    migrations,
    split_statements,
)

OLD_MIGRATIONS = Path(__file__).parent / "old_migrations"
T0 = datetime(2026, 10, 31, 19, tzinfo=UTC)  # 600 spans a minute apart: the last October hours and November's first
SPANS = 600

# One deterministic workload: two tenants, every dimension varied, unpriced calls, a quarter of the
# spans retried (the retry, ingested later, costs more: FINAL must keep it), late quality (two
# grades per span, the later wins) and router-logged decisions. Scores are multiples of 1/8, so float
# sums of them are exact in any order and two stores can be compared to the last bit.
FILL_SPANS = """
INSERT INTO llm_spans (tenant, trace_id, span_id, start_time, end_time, role, tier, team, feature, service,
                       environment, provider, model, input_tokens, output_tokens, cache_read_tokens, cost_usd,
                       priced, quality_score, quality_source, router_policy_version, router_propensity, ingested_at)
SELECT
    if(number % 7 = 0, 'other', 'default'),
    leftPad(lower(hex(intDiv(number, 3))), 32, '0'),
    leftPad(lower(hex(number)), 16, '0'),
    {t0:DateTime64(9, 'UTC')} + toIntervalSecond(number * 60 + number % 13),
    {t0:DateTime64(9, 'UTC')} + toIntervalSecond(number * 60 + number % 13 + 2),
    ['planner', 'worker', 'critic', 'formatter'][number % 4 + 1],
    ['small', 'mid', 'frontier'][number % 3 + 1],
    ['a', 'b'][number % 2 + 1],
    ['search', 'chat'][intDiv(number, 4) % 2 + 1],
    ['api', 'batch'][intDiv(number, 5) % 2 + 1],
    if(number % 5 = 0, 'staging', 'prod'),
    if(number % 11 = 0, 'acme', 'openai'),
    if(number % 11 = 0, 'in-house-1', ['gpt-4o-mini', 'gpt-4o', 'o3'][number % 3 + 1]),
    100 + number % 17 * 13,
    20 + number % 5 * 7,
    number % 3 * 10,
    if(number % 11 = 0, NULL, toDecimal128(100 + number % 17 * 13, 18) * 3 / 1000000 + {extra:Decimal(38, 18)}),
    number % 11 != 0,
    if(number % 3 = 0, NULL, (number % 8) / 8),
    if(number % 3 = 0, '', 'judge'),
    if(number % 4 = 0, 'v1', ''),
    if(number % 4 = 0, [0.25, 0.75][number % 2 + 1], NULL),
    {ingested:DateTime64(6, 'UTC')}
FROM numbers({spans:UInt64})
WHERE number % {every:UInt64} = 0
"""
FILL_QUALITY = """
INSERT INTO quality_events (tenant, trace_id, span_id, event_id, event_time, score, source, ingested_at)
SELECT
    if(number % 7 = 0, 'other', 'default'),
    leftPad(lower(hex(intDiv(number, 3))), 32, '0'),
    leftPad(lower(hex(number)), 16, '0'),
    concat('e', toString(grade)),
    {t0:DateTime64(9, 'UTC')} + toIntervalSecond(number * 60 + 3600 * grade),
    if(grade = 1, 0.25, 0.875),
    'user',
    {ingested:DateTime64(6, 'UTC')}
FROM numbers({spans:UInt64}) ARRAY JOIN [1, 2] AS grade
WHERE number % 5 = 0
"""
MARK_EVERY_HOUR = ("INSERT INTO rollup_marks SELECT DISTINCT tenant, toStartOfFiveMinutes(start_time), "
                   "toUnixTimestamp64Nano(now64(9)) FROM llm_spans")

SCOPE = {"tenant": "default", "since": T0, "until": T0 + timedelta(hours=11),
         "roles": [], "teams": [], "services": [], "environments": []}
SCOPES = [
    SCOPE,
    {**SCOPE, "tenant": "other"},
    {**SCOPE, "since": T0 + timedelta(minutes=47), "until": T0 + timedelta(hours=6, minutes=13)},  # ragged
    {**SCOPE, "roles": ["planner", "critic"], "teams": ["a"], "services": ["api"], "environments": ["prod"]},
]
# hour rows but for 3h, and two of 3h's units from their unit rows
ROLLUP = {"h0": T0, "h1": T0 + timedelta(hours=11), "dirty": [T0 + timedelta(hours=3)],
          "units": [T0 + timedelta(hours=3, minutes=5), T0 + timedelta(hours=3, minutes=10)]}
# Every named read that goes through a view, with the parameters it takes besides the scope.
NAMED_READS: dict[str, dict[str, Any]] = {
    "spend_by": {"by": ["role", "tier", "model"]},
    "spend_timeseries": {"bucket": "hour", "split": "role", "split2": "tier", "tz": "Europe/Paris"},
    "filter_values": {},
    "spans_list": {"tier": "", "model": "", "provider": "", "trace_id": "", "keys": [], "limit": 10_000, "offset": 0},
    "spans_keys": {"tier": "", "model": "", "provider": "", "trace_id": "", "limit": 10_000, "offset": 0},
    "alert_window": {"tier": "", "model": "", "pass_threshold": 0.5},
    "misrouted_groups": {},
    "misrouted_hours": {"tiers": ["frontier", "mid"]},
    "misrouted_calls": {"tiers": ["frontier"], "model": "", "provider": "", "service_tiers": [], "processing_modes": []},
    "offpolicy_decisions": {},
}
# The aggregates rollup.read also runs over v_rollup (the clean hours of the scope but `dirty`, the `units`).
OVER_ROLLUP: dict[str, dict[str, Any]] = {
    "spend_by": {"by": ["team", "environment"]},
    "spend_timeseries": {"bucket": "day", "split": "model", "split2": "", "tz": "UTC"},
    "filter_values": {},
    "misrouted_groups": {},
    "misrouted_hours": {"tiers": ["frontier", "mid"]},
}
SPAN_SCOPE = ("tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')}, "
              "roles = {roles:Array(String)}, teams = {teams:Array(String)}, services = {services:Array(String)}, "
              "environments = {environments:Array(String)}, parts = {parts:UInt64}, part = {part:UInt64}")
VIEW_ROWS = {  # each view's whole answer; the rollup's `version` is the store's clock, so it is left out
    "v_spans_unscored": "SELECT * FROM v_spans_unscored(" + SPAN_SCOPE + ") ORDER BY trace_id, span_id",
    "v_spans": "SELECT * FROM v_spans(" + SPAN_SCOPE + ") ORDER BY trace_id, span_id",
    "v_rollup": "SELECT * EXCEPT version FROM v_rollup(" + SPAN_SCOPE + ", h0 = {h0:DateTime64(9, 'UTC')}, "
                "h1 = {h1:DateTime64(9, 'UTC')}, dirty = {dirty:Array(DateTime('UTC'))}, "
                "units = {units:Array(DateTime('UTC'))}) "
                "ORDER BY ALL",
}


def migrate_the_old_way(store: Store, up_to: int) -> list[str]:
    """Apply migrations 0001..`up_to` as they were before views moved out of them (a view-only one
    from old_migrations/), the way the runner applied them then: no views of sql/views."""
    store.command(MIGRATIONS_TABLE_DDL)
    names = []
    for version, name, text in migrations()[:up_to]:
        old = OLD_MIGRATIONS / f"{name}.sql"
        for statement in split_statements(old.read_text() if old.exists() else text):
            store.command(statement)
        store.command("INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
                      {"v": version, "n": name})
        names.append(name)
    return names


def insert_workload(store: Store) -> None:
    """The workload's spans and late quality, every hour marked changed (as an insert marks it)."""
    ingested = datetime(2026, 12, 1, tzinfo=UTC)
    store.command(FILL_SPANS, {"t0": T0, "extra": Decimal(0), "ingested": ingested, "spans": SPANS, "every": 1})
    store.command(FILL_SPANS, {"t0": T0, "extra": Decimal("0.001"), "ingested": ingested + timedelta(seconds=1),
                               "spans": SPANS, "every": 4})  # the retries
    store.command(FILL_QUALITY, {"t0": T0, "ingested": ingested, "spans": SPANS})
    store.command(MARK_EVERY_HOUR)


def refresh(store: Store) -> int:
    """Fill the rollup behind the workload; the (tenant, hour) pairs computed."""
    return rollup.refresh(store, settle=timedelta(0))


def _settled(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with its floats to 12 significant digits: a Float64 sum (the off-policy estimate's
    squares) depends on the order the engine adds its rows in, which a migration that copies the
    spans (0017's re-key) changes; money is Decimal and compared exactly."""
    return {k: float(f"{v:.12g}") if isinstance(v, float) else v for k, v in row.items()}


def answers(store: Store) -> dict[tuple, list[dict[str, Any]]]:
    """Every named read and every view's rows, for every scope."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for i, scope in enumerate(SCOPES):
        for name, extra in NAMED_READS.items():
            rows = [_settled(r) for r in store.query(name, {**scope, **extra})]
            out[name, i] = sorted(rows, key=repr)  # some reads leave their row order to the engine
        for name, extra in OVER_ROLLUP.items():
            out[name, "rollup", i] = sorted(store.query(name, {**scope, **extra, **ROLLUP}, over_rollup=True), key=repr)
        views = {**scope, **ROLLUP, "parts": 1, "part": 0}
        for name, sql in VIEW_ROWS.items():
            out[name, i] = store.rows(sql, views)
        for part in range(3):
            out["v_spans", i, part] = store.rows(VIEW_ROWS["v_spans"], {**views, "parts": 3, "part": part})
    out["trace_bounds"] = store.query("trace_bounds", {"tenant": "default", "trace_id": f"{1:032x}"})
    return out


def view_definitions(store: Store) -> dict[str, str]:
    return dict(store.rows("SELECT name, create_table_query FROM system.tables "
                           "WHERE database = currentDatabase() AND engine = 'View'"))


def view_columns(store: Store, name: str) -> list[tuple[str, str]]:
    sql = "DESCRIBE (" + VIEW_ROWS[name].split(" ORDER BY")[0].replace(" EXCEPT version", "") + ")"
    return [(r[0], r[1]) for r in store.rows(sql, {**SCOPE, **ROLLUP, "parts": 1, "part": 0})]


def table_columns(store: Store, table: str) -> list[tuple[str, str]]:
    return store.rows("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                      "AND table = {t:String} ORDER BY position", {"t": table})


@dataclass(frozen=True)
class NewStore:
    """A store created by this code and given the workload; closed (the engine opens one path at a
    time per process), so a test reopens `url` or builds another store."""

    url: str
    applied: list[str]
    hours: int
    answers: dict[tuple, list[dict[str, Any]]]
    views: dict[str, str]


@pytest.fixture(scope="module")
def new_store(tmp_path_factory) -> NewStore:
    url = f"chdb:{tmp_path_factory.mktemp('views') / 'new'}"
    store = Store(url)
    try:
        applied = store.migrate()
        insert_workload(store)
        hours = refresh(store)
        return NewStore(url, applied, hours, answers(store), view_definitions(store))
    finally:
        store.close()


@pytest.fixture(scope="module")
def expected(new_store: NewStore) -> dict[tuple, list[dict[str, Any]]]:
    return new_store.answers


@contextmanager
def opened(url: str) -> Iterator[Store]:
    store = Store(url)
    try:
        yield store
    finally:
        store.close()


def test_a_new_store_applies_every_migration_and_creates_every_view(new_store):
    assert new_store.applied == [name for _, name, _ in migrations()]
    assert sorted(new_store.views) == sorted(VIEWS)
    assert new_store.hours == 20  # 600 spans a minute apart from 19:00 (10 hours), in both tenants


def test_the_tables_merged_in_the_collectors_memory_merge_column_by_column(new_store):
    """0005 and 0019: in the embedded store a merge runs in the collector's own memory, and a
    vertical merge holds one column of its parts at a time, not all of them."""
    with opened(new_store.url) as store:
        engines = dict(store.rows("SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() "
                                  "AND name IN ('llm_spans', 'spend_rollup', 'task_rollup')"))
    assert sorted(engines) == ["llm_spans", "spend_rollup", "task_rollup"]
    for name, engine in engines.items():
        assert "vertical_merge_algorithm_min_rows_to_activate = 1" in engine, (name, engine)
        assert "vertical_merge_algorithm_min_columns_to_activate = 1" in engine, (name, engine)


def test_the_workload_reaches_every_read(expected):
    """No read is compared on an empty answer, so the equality below means something."""
    empty = [key for key, rows in expected.items() if not rows]
    # v_spans' slices of the filtered scope may be empty; nothing else is
    assert all(key[0] == "v_spans" and key[1] == 3 and len(key) == 3 for key in empty), empty
    by_model = {(r["g_role"], r["g_tier"], r["g_model"]): r for r in expected["spend_by", 0]}
    assert by_model["planner", "frontier", "o3"]["spans"] > 0
    assert any(r["unpriced_spans"] for r in expected["spend_by", 0])


def test_slices_of_v_spans_partition_it(expected):
    for i in range(len(SCOPES)):
        sliced = sorted((row for part in range(3) for row in expected["v_spans", i, part]), key=repr)
        assert sliced == sorted(expected["v_spans", i], key=repr)
        assert all(expected["v_spans", i, part] != expected["v_spans", i] for part in range(3))


def test_the_kept_old_statements_are_those_of_the_migrations_left_with_nothing_to_run():
    emptied = {name for _, name, text in migrations() if not split_statements(text)}
    assert {p.stem for p in OLD_MIGRATIONS.glob("*.sql")} == emptied
    assert emptied == {"0002_v_spans", "0006_v_spans_bounded_quality", "0007_v_rollup", "0008_v_spans_unscored",
                       "0009_v_spans_hashed_quality_bound", "0010_v_spans_part"}


def recorded(store: Store) -> list[tuple[int, str]]:
    return store.rows("SELECT version, name FROM schema_migrations ORDER BY version")


def test_a_store_built_by_the_old_migrations_migrates_cleanly_and_answers_the_same(tmp_path, new_store):
    """Built by 0001..0010 as they were and filled; then migrated by this code: only the table
    migrations after 0010 apply, the views are those of sql/views, and it answers as a new store.
    (The named reads need 0011's columns, so the old store is not read before it migrates.)"""
    expected = new_store.answers
    with opened(f"chdb:{tmp_path / 'old'}") as store:
        assert len(migrate_the_old_way(store, 10)) == 10
        old_views = {*VIEWS, *RETIRED_VIEWS} - {"v_task_rollup", "v_tasks"}  # came after, with task_rollup (0016)
        assert sorted(view_definitions(store)) == sorted(old_views)  # created by the old migrations
        insert_workload(store)

        assert store.migrate() == [name for version, name, _ in migrations() if version > 10]
        assert recorded(store) == [(v, n) for v, n, _ in migrations()]  # each once, the old names
        assert view_definitions(store) == new_store.views
        assert refresh(store) == 20
        assert answers(store) == expected


def test_an_older_store_applies_the_view_only_migrations_as_nothing(tmp_path, expected):
    """A store last migrated at 0007 (no v_spans_unscored, no v_spans_part yet) holding data:
    0008..0010 apply with nothing to run, every view is created, and it answers as a new store."""
    with opened(f"chdb:{tmp_path / 'older'}") as store:
        migrate_the_old_way(store, 7)
        assert sorted(view_definitions(store)) == ["v_rollup", "v_spans"]
        insert_workload(store)
        assert store.migrate() == [name for version, name, _ in migrations() if version > 7]
        assert recorded(store) == [(v, n) for v, n, _ in migrations()]
        assert refresh(store) == 20
        assert answers(store) == expected


def test_migrating_again_changes_nothing(new_store):
    with opened(new_store.url) as store:
        before = recorded(store)
        assert store.migrate() == []
        assert store.migrate() == []
        assert view_definitions(store) == new_store.views
        assert recorded(store) == before
        assert answers(store) == new_store.answers


def test_every_view_has_its_columns(new_store):
    with opened(new_store.url) as store:
        spans = table_columns(store, "llm_spans")
        unscored = spans + [("hour", "DateTime('UTC')"), ("unit", "DateTime('UTC')"), ("spans", "UInt64"), ("unpriced_spans", "UInt64"),
                            ("unpriced_tokens", "UInt64"), ("failed_spans", "UInt64"),
                            ("first_span", "DateTime64(9, 'UTC')"), ("last_span", "DateTime64(9, 'UTC')"),
                            ("escalated_spans", "UInt64"), ("failover_spans", "UInt64"), ("async_spans", "UInt64"),
                            ("saving_unknown_spans", "UInt64"), ("escalated_cost_usd", "Nullable(Decimal(38, 18))"),
                            ("failover_cost_usd", "Nullable(Decimal(38, 18))")]
        scored = unscored + [("quality", "Nullable(Float64)"), ("quality_from", "String"), ("quality_sum", "Float64"),
                             ("quality_n", "UInt64")]
        assert view_columns(store, "v_spans_unscored") == unscored
        assert view_columns(store, "v_spans") == scored
        rolled = table_columns(store, "spend_rollup")
        assert view_columns(store, "v_rollup") == rolled + [("start_time", "DateTime('UTC')")]
        # every column an aggregate reads from v_spans, v_rollup offers with the same type (a span's
        # cost may be unknown, a group's is a sum: the aggregates read ifNull(sum(cost_usd), 0))
        offered = dict(scored) | {name: "Decimal(38, 18)" for name in ("cost_usd", *LEVER_MONEY)}
        # (but the rollup's own bookkeeping: a row's refresh and size)
        own = ("version", "minutes")
        assert {name: offered.get(name) for name, _ in rolled if name not in own} == {
            n: k for n, k in rolled if n not in own}
    assert len(spans) == 46  # 0011 added service_tier and processing, 0014 failover_from and failover_reason, 0015 3
    assert spans[-5:-3] == [("failover_from", "LowCardinality(String)"), ("failover_reason", "LowCardinality(String)")]
