"""Issue 7: `migrate --cluster` turns the same migrations into ON CLUSTER DDL (replicated local tables,
Distributed tables) and the same sql/views files into ON CLUSTER views, and the single-node schema
is untouched.

No cluster (nor ZooKeeper) runs here, so every generated statement is checked by the real ClickHouse
parser in the embedded engine (`formatQuery`), and compared with the single-node DDL it came from.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from tierscope.collector.store.cluster import (
    ClusterSchemaError,
    cluster_plan,
    cluster_statements,
    cluster_views,
)
from tierscope.cli import main
from tierscope.collector.store.clickhouse import RETIRED_VIEWS, VIEWS, Store, migrations, split_statements, views


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    opened = Store(f"chdb:{tmp_path_factory.mktemp('cluster') / 'store'}")
    yield opened
    opened.close()


def formatted(store: Store, statement: str) -> str:
    """The statement as ClickHouse's parser reads it (raises on a syntax error)."""
    return store.rows("SELECT formatQuery({q:String})", {"q": statement})[0][0]


def columns(ddl: str) -> str:
    """The column list of a formatted CREATE TABLE."""
    return ddl[ddl.index("("):ddl.index("\nENGINE")]


def single_node_tables(store: Store) -> dict[str, str]:
    out = {}
    for _, _, text in migrations():
        for statement in split_statements(text):
            match = re.match(r"CREATE TABLE IF NOT EXISTS (\w+)", statement)
            if match:
                out[match.group(1)] = formatted(store, statement)
    return out


def test_every_statement_parses_and_is_on_the_cluster(store):
    statements = cluster_statements("prod", "tierscope")
    assert len(statements) > 1
    for statement in statements:
        text = formatted(store, statement)
        assert " ON CLUSTER prod" in text, text[:200]
        assert "tierscope." in text


def test_each_table_becomes_a_replicated_local_table_and_a_distributed_one(store):
    tables = single_node_tables(store)
    statements = {re.match(r"CREATE TABLE IF NOT EXISTS `?(\w+)`?\.`?(\w+)`?", s).group(2): formatted(store, s)
                  for s in cluster_statements("prod") if s.startswith("CREATE TABLE")}
    assert {"llm_spans", "quality_events"} <= set(tables)
    for name, original in tables.items():
        local, distributed = statements[f"{name}_local"], statements[name]
        assert columns(local) == columns(original)  # the same columns, types and order
        engine = re.search(r"ENGINE = (\w+)\((.*)\)", original) or re.search(r"ENGINE = (\w+)", original)
        args = engine.group(2) if engine.lastindex == 2 else ""
        expected = (f"ENGINE = Replicated{engine.group(1)}('/clickhouse/tables/{{shard}}/default/{name}_local', "
                    f"'{{replica}}'" + (f", {args})" if args else ")"))
        assert expected in local
        assert original[original.index("\nENGINE"):].split("\n", 2)[2] == local[local.index("\nENGINE"):].split("\n", 2)[2]
        assert f"AS default.{name}_local" in distributed
        assert f"ENGINE = Distributed('prod', 'default', '{name}_local', cityHash64(tenant, " in distributed
    # Every version of a span lands on one shard, so FINAL dedupes across retries.
    assert "cityHash64(tenant, trace_id)" in statements["llm_spans"]
    assert "ReplicatedReplacingMergeTree(" in statements["llm_spans_local"]


def test_every_view_of_sql_views_is_created_on_the_cluster_after_the_tables_in_order(store):
    statements = cluster_statements("prod", "ts")
    created = [m.group(1) for s in statements if (m := re.match(r"CREATE OR REPLACE VIEW `ts`\.`(\w+)` ON CLUSTER", s))]
    assert created == list(VIEWS)  # each once, in creation order
    first = statements.index(cluster_views("prod", "ts")[0])
    retired = [f"DROP VIEW IF EXISTS `ts`.`{name}` ON CLUSTER `prod`" for name in RETIRED_VIEWS]
    assert statements[first - len(retired):first] == retired  # views an older version made, dropped first
    assert all(s.startswith(("CREATE TABLE", "ALTER TABLE")) for s in statements[1:first - len(retired)])
    assert statements[first:] == cluster_views("prod", "ts")


def test_added_columns_reach_the_local_and_the_distributed_table(store):
    """Migration 0011 adds service_tier/processing: on a cluster to each replicated local table
    (with the rollup's sort key change) and to the Distributed table (columns only)."""
    plan = {v: s for v, _, s in cluster_plan("prod", "ts")}
    local, distributed, rollup_local, rollup = (formatted(store, s) for s in plan[11])
    for text, table in ((local, "llm_spans_local"), (distributed, "llm_spans"),
                        (rollup_local, "spend_hourly_local"), (rollup, "spend_hourly")):
        assert text.startswith(f"ALTER TABLE ts.{table} ON CLUSTER prod")
        assert "ADD COLUMN IF NOT EXISTS `service_tier` LowCardinality(String)" in text
        assert "ADD COLUMN IF NOT EXISTS `processing` LowCardinality(String)" in text
    assert "MODIFY ORDER BY" in rollup_local and "MODIFY ORDER BY" not in rollup
    # 0014 adds the failover columns the same way (llm_spans only).
    failover = [formatted(store, s) for s in plan[14]]
    assert [text.split("\n", 1)[0] for text in failover] == [
        "ALTER TABLE ts.llm_spans_local ON CLUSTER prod", "ALTER TABLE ts.llm_spans ON CLUSTER prod"]
    for text in failover:
        assert "ADD COLUMN IF NOT EXISTS `failover_from` LowCardinality(String)" in text
        assert "ADD COLUMN IF NOT EXISTS `failover_reason` LowCardinality(String)" in text
    # 0015 adds the levers' columns to both tables of the spans and of the rollup.
    levers = [formatted(store, s) for s in plan[15] if s.startswith("ALTER")]
    assert [text.split("\n", 1)[0] for text in levers] == [
        "ALTER TABLE ts.llm_spans_local ON CLUSTER prod", "ALTER TABLE ts.llm_spans ON CLUSTER prod",
        "ALTER TABLE ts.spend_hourly_local ON CLUSTER prod", "ALTER TABLE ts.spend_hourly ON CLUSTER prod"]
    assert all("ADD COLUMN IF NOT EXISTS `cache_saving_usd` Nullable(Decimal(38, 18))" in t for t in levers[:2])
    assert all("ADD COLUMN IF NOT EXISTS `failover_cost_usd` Decimal(38, 18)" in t for t in levers[2:])


def test_each_cluster_view_is_its_file_with_names_qualified(store):
    for (name, single), clustered in zip(views(), cluster_views("prod", "ts"), strict=True):
        text = formatted(store, clustered)
        assert text.startswith(f"CREATE OR REPLACE VIEW ts.{name} ON CLUSTER prod\n")
        unqualified = re.sub(r"`?ts\.(\w+)`?", r"\1", text).replace(" ON CLUSTER prod", "")
        assert unqualified == formatted(store, single)


def test_views_read_the_distributed_tables_and_each_other_by_qualified_name(store):
    ddl = {name: formatted(store, s) for name, s in zip(VIEWS, cluster_views("prod", "ts"), strict=True)}
    assert re.search(r"FROM ts\.llm_spans\s+FINAL", ddl["v_spans_unscored"])
    assert "FROM `ts.v_spans_unscored`(" in ddl["v_spans"]
    assert re.search(r"FROM ts\.quality_events\s", ddl["v_spans"]) and "FROM ts.llm_spans" in ddl["v_spans"]
    assert "FROM ts.spend_rollup" in ddl["v_rollup"] and "FROM ts.rollup_stamps" in ddl["v_rollup"]
    for name, text in ddl.items():
        assert "{tenant:String}" in text  # still a parameterized view
        unqualified = re.findall(r"\b(?:FROM|JOIN)\s+(?!ts\.|`ts\.|\()(\S+)", text)
        assert unqualified == [], (name, unqualified)


def test_migrations_table_is_one_replica_set_across_shards(store):
    first = formatted(store, cluster_statements("prod")[0])
    assert "schema_migrations ON CLUSTER prod" in first
    assert "ReplicatedMergeTree('/clickhouse/tables/default/schema_migrations', '{replica}')" in first


def test_plan_follows_the_migration_files_one_to_one():
    assert [(v, n) for v, n, _ in cluster_plan("c")] == [(v, n) for v, n, _ in migrations()]


@pytest.mark.parametrize("cluster, database", [("prod; DROP TABLE x", "default"), ("prod", "a`b"), ("", "default")])
def test_names_that_are_not_plain_identifiers_are_refused(cluster, database):
    with pytest.raises(ClusterSchemaError):
        cluster_statements(cluster, database)


def test_cli_prints_the_statements_and_refuses_bad_names_cleanly():
    runner = CliRunner()
    printed = runner.invoke(main, ["migrate", "--cluster", "prod"])
    assert printed.exit_code == 0
    assert printed.output.count("ON CLUSTER `prod`") == len(cluster_statements("prod"))
    bad = runner.invoke(main, ["migrate", "--cluster", "pr od"])
    assert bad.exit_code == 1 and "plain identifier" in bad.output and "Traceback" not in bad.output


def test_single_node_migrate_is_unchanged(store):
    before = [(v, n, t) for v, n, t in migrations()]
    cluster_statements("prod")
    assert migrations() == before  # the files are read, never rewritten
    assert store.migrate() == [n for _, n, _ in before]
    assert store.migrate() == []
    engines = dict(store.rows("SELECT name, engine FROM system.tables WHERE database = currentDatabase()"))
    assert engines["llm_spans"] == "ReplacingMergeTree"
    assert engines["schema_migrations"] == "MergeTree"
    assert {name for name, engine in engines.items() if engine == "View"} == set(VIEWS)
    assert not any(name.endswith("_local") for name in engines)
    assert "Distributed" not in engines.values()
