"""The schema on a ClickHouse cluster: the same migrations and views, rewritten as ON CLUSTER DDL.

Each `CREATE TABLE t ... ENGINE = XMergeTree(args)` of sql/migrations becomes a replicated local
table `t_local` (ReplicatedXMergeTree with the `{shard}`/`{replica}` macros) plus a `Distributed`
table `t` over it, so collectors and queries keep using the names they use on one node. Rows are
sharded by a prefix of the sort key (tenant, trace_id), so every version of one span lands on the
same shard and ReplacingMergeTree's FINAL still sees them together. The views of sql/views are
created on every node, after the migrations, each time the schema is applied (as `migrate` does on
one node), reading the Distributed tables and each other by qualified name. `schema_migrations` is
one replicated table shared by every node, so a collector starting on any node finds the schema
current and applies nothing.

Cluster and database names are checked identifiers, back-quoted: they are the only text spliced in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tierscope.collector.store.clickhouse import RETIRED_VIEWS, Store, migrations, split_statements, views
from tierscope.errors import ClusterSchemaError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CREATE_TABLE = re.compile(r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)\s*(?P<rest>\(.*)$",
                           re.IGNORECASE | re.DOTALL)
_CREATE_VIEW = re.compile(r"^CREATE\s+(?P<head>(?:OR\s+REPLACE\s+)?VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)"
                          r"\s+(?P<rest>AS\s.*)$", re.IGNORECASE | re.DOTALL)
_ENGINE = re.compile(r"ENGINE\s*=\s*(?P<engine>\w*MergeTree)\s*(?:\((?P<args>[^()]*)\))?", re.IGNORECASE)
_ORDER_BY = re.compile(r"ORDER\s+BY\s+", re.IGNORECASE)
# A migration that adds columns: applied to each local table (with its sort key change, if any) and
# to the Distributed table over it, which must list the same columns.
_ADD_COLUMNS = re.compile(r"^ALTER\s+TABLE\s+(?P<name>\w+)\s+(?P<rest>ADD\s+COLUMN\b.*)$", re.IGNORECASE | re.DOTALL)
# Data moves of a single-node upgrade (0004 and 0017 re-key an existing llm_spans, 0018 quality_events,
# empty and backfill the rollup's tables): a new cluster is created from the final schema of 0001 and
# has no data to move.
_SINGLE_NODE = re.compile(r"^(?:DROP|ALTER|EXCHANGE|INSERT|TRUNCATE)\b|\bllm_spans_v(?:4|17)\b|\bquality_events_v18\b",
                          re.IGNORECASE)
MIGRATIONS_TABLE = "schema_migrations"


def _quoted(name: str, what: str) -> str:
    if not _IDENTIFIER.match(name or ""):
        raise ClusterSchemaError(f"{what} must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got {name!r}")
    return f"`{name}`"


def _engine_at_top_level(text: str) -> re.Match[str]:
    """The ENGINE clause after the column list (parentheses and quotes skipped)."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote and text[i - 1] != "\\" else quote
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text[i:i + 6].upper() == "ENGINE":
            match = _ENGINE.match(text, i)
            if match:
                return match
    raise ClusterSchemaError("no *MergeTree ENGINE clause after the column list")


def _sort_columns(rest: str) -> list[str]:
    """The plain column names of the ORDER BY tuple (expressions such as toStartOfHour(t) skipped)."""
    order = _ORDER_BY.search(rest)
    if not order:
        raise ClusterSchemaError("a table without ORDER BY cannot be sharded")
    text = rest[order.end():].lstrip()
    if not text.startswith("("):
        return [text.split()[0]] if text else []
    depth, item, items = 0, "", []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            break
        if ch == "," and depth == 1:
            items.append(item)
            item = ""
        elif depth > 1 or ch != "(":
            item += ch
    items.append(item)
    return [i.strip() for i in items if _IDENTIFIER.match(i.strip())]


def _sharding_key(rest: str) -> str:
    """The first two plain sort columns: (tenant, trace_id) for spans, so every version of a span
    (and every span of a trace) is on one shard; (tenant, hour) for the rollup tables."""
    columns = _sort_columns(rest)
    if not columns:
        raise ClusterSchemaError("a table whose ORDER BY has no plain column cannot be sharded")
    return f"cityHash64({', '.join(columns[:2])})"


def _table(name: str, rest: str, cluster: str, db: str) -> list[str]:
    engine = _engine_at_top_level(rest)
    local = f"{name}_local"
    path = f"'/clickhouse/tables/{{shard}}/{db.strip('`')}/{local}'"
    args = ", ".join(filter(None, [path, "'{replica}'", (engine.group("args") or "").strip()]))
    replicated = f"ENGINE = Replicated{engine.group('engine')}({args})"
    body = rest[:engine.start()] + replicated + rest[engine.end():]
    distributed = (f"CREATE TABLE IF NOT EXISTS {db}.`{name}` ON CLUSTER {cluster} AS {db}.`{local}`\n"
                   f"ENGINE = Distributed('{cluster.strip('`')}', '{db.strip('`')}', '{local}', {_sharding_key(rest)})")
    return [f"CREATE TABLE IF NOT EXISTS {db}.`{local}` ON CLUSTER {cluster}\n{body}", distributed]


def _top_level_items(text: str) -> list[str]:
    """`text` split at the commas outside parentheses."""
    depth, item, items = 0, "", []
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(item.strip())
            item = ""
        else:
            item += ch
    return [*items, item.strip()]


def _add_columns(name: str, actions: str, cluster: str, db: str) -> list[str]:
    added = [a for a in _top_level_items(actions) if re.match(r"ADD\s+COLUMN\b", a, re.IGNORECASE)]
    return [f"ALTER TABLE {db}.`{name}_local` ON CLUSTER {cluster}\n{actions.strip()}",
            f"ALTER TABLE {db}.`{name}` ON CLUSTER {cluster}\n" + ",\n".join(added)]


def _view(head: str, name: str, rest: str, names: set[str], cluster: str, db: str) -> str:
    # qualify the tables and views the view reads, so it means the same whatever the session database
    pattern = re.compile(r"\b(FROM|JOIN)\s+(" + "|".join(map(re.escape, sorted(names))) + r")\b", re.IGNORECASE)
    rest = pattern.sub(lambda m: f"{m.group(1)} {db}.`{m.group(2)}`", rest)
    return f"CREATE {head.upper()} {db}.`{name}` ON CLUSTER {cluster} {rest}"


def cluster_plan(cluster: str, database: str = "default") -> Iterator[tuple[int, str, list[str]]]:
    """(version, name, ON CLUSTER statements) per migration, in order."""
    c, db = _quoted(cluster, "cluster"), _quoted(database, "database")
    for version, name, text in migrations():
        out: list[str] = []
        for statement in split_statements(text):
            if match := _CREATE_TABLE.match(statement):
                out += _table(match.group("name"), match.group("rest"), c, db)
            elif match := _ADD_COLUMNS.match(statement):
                out += _add_columns(match.group("name"), match.group("rest"), c, db)
            elif _CREATE_VIEW.match(statement):
                raise ClusterSchemaError(f"migration {name} creates a view: views belong in sql/views")
            elif _SINGLE_NODE.search(statement):
                continue
            else:
                raise ClusterSchemaError(f"migration {name}: cannot rewrite for a cluster: {statement[:80]!r}")
        yield version, name, out


def cluster_views(cluster: str, database: str = "default") -> list[str]:
    """ON CLUSTER DDL of every view of sql/views, in creation order (created each time, as on one node)."""
    c, db = _quoted(cluster, "cluster"), _quoted(database, "database")
    defined = views()
    names = {name for name, _ in defined}
    for _, _, text in migrations():
        names |= {m.group("name") for s in split_statements(text) if (m := _CREATE_TABLE.match(s))}
    out = []
    for name, statement in defined:
        match = _CREATE_VIEW.match(statement)
        assert match, name  # views() checked that every file is one CREATE OR REPLACE VIEW
        out.append(_view(match.group("head"), name, match.group("rest"), names, c, db))
    return out


def migrations_table_statement(cluster: str, database: str = "default") -> str:
    """The shared (one replica set across all shards) record of applied migrations."""
    c, db = _quoted(cluster, "cluster"), _quoted(database, "database")
    return (f"CREATE TABLE IF NOT EXISTS {db}.`{MIGRATIONS_TABLE}` ON CLUSTER {c} (version UInt32, name String, "
            f"applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplicatedMergeTree("
            f"'/clickhouse/tables/{database}/{MIGRATIONS_TABLE}', '{{replica}}') ORDER BY version")


def cluster_statements(cluster: str, database: str = "default") -> list[str]:
    """Every statement that creates tierscope's schema on `cluster`, in order."""
    statements = [migrations_table_statement(cluster, database)]
    for _, _, ddl in cluster_plan(cluster, database):
        statements += ddl
    c, db = _quoted(cluster, "cluster"), _quoted(database, "database")
    retired = [f"DROP VIEW IF EXISTS {db}.`{name}` ON CLUSTER {c}" for name in RETIRED_VIEWS]
    return statements + retired + cluster_views(cluster, database)


def apply_cluster(store: Store, cluster: str, database: str = "default") -> list[str]:
    """Run the migrations not yet recorded, then every view, ON CLUSTER, through `store` (any node);
    returns the names of the migrations applied."""
    store.command(migrations_table_statement(cluster, database))
    created = cluster_views(cluster, database)  # checked before anything runs
    done = {row[0] for row in store.rows("SELECT version FROM {db:Identifier}.schema_migrations", {"db": database})}
    applied = []
    for version, name, ddl in cluster_plan(cluster, database):
        if version in done:
            continue
        for statement in ddl:
            store.command(statement)
        store.command("INSERT INTO {db:Identifier}.schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
                      {"db": database, "v": version, "n": name})
        applied.append(name)
    for statement in created:
        store.command(statement)
    return applied
