"""The ClickHouse store: open it, migrate it, write rows as Arrow, run named queries.

The schema is two kinds of file. `sql/migrations/NNNN_*.sql` hold tables and data moves, applied
once each and recorded in `schema_migrations`. `sql/views/<view>.sql` hold one view each: views are
not data, so `migrate` creates every one (CREATE OR REPLACE VIEW) each time it runs, after the
migrations and in the order of `VIEWS`; a view is defined in one place and every store, old or new,
reads through the current definition. A migration therefore never reads a view.

Embedded (`chdb:PATH`, the real ClickHouse engine in-process) or a server (`http(s)://...`), both
through clickhouse-connect. One process owns an embedded store; everyone else reads through the
collector's read API.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
import pyarrow as pa
import pyarrow.compute as pc
from tierscope.errors import StoreError
from tierscope.terms import GROUP_COUNTS, LEVER_COUNTS, LEVER_MONEY

log = logging.getLogger(__name__)

DEFAULT_STORE = "chdb:.tierscope/store"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_VIEW_STATEMENT = re.compile(r"^CREATE OR REPLACE VIEW (\w+) AS\s", re.IGNORECASE)
_READS = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.IGNORECASE)
# The views of sql/views in creation order: each reads tables and only the views before it.
VIEWS = ("v_spans_unscored", "v_spans", "v_rollup", "v_task_rollup", "v_tasks")
# Views earlier versions created and this one does not: migrate drops them.
RETIRED_VIEWS = ("v_spans_part",)
MIGRATIONS_TABLE_DDL = ("CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
                        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version")


@dataclass(frozen=True)
class StoreURL:
    kind: str  # "chdb" or "http"
    path: str = ""
    host: str = ""
    port: int = 8123
    username: str = "default"
    password: str = ""
    database: str = "default"
    secure: bool = False

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        if url.startswith("chdb:"):
            path = url[len("chdb:"):]
            if not path:
                raise StoreError("chdb store URL needs a path, e.g. chdb:.tierscope/store")
            return cls(kind="chdb", path=path)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StoreError(f"store URL must be chdb:PATH or http(s)://user:pass@host:8123/db, got {url!r}")
        return cls(
            kind="http",
            host=parts.hostname,
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=parts.path.strip("/") or "default",
            secure=parts.scheme == "https",
        )


# Words of the sql/ files, expanded before a statement runs, each written once here:
#   $scope  the arguments of a read of spans: a tenant's spans in [since, until), the dashboard filters;
#   $slice  the same, restricted to slice {part} of {parts} (the rollup fill; see v_spans_unscored);
#   $tasks  (below) the arguments of v_tasks;
#   $sums   the additive columns of a spend group, summed (the rollup's columns; tierscope.terms).
#   $clean_hours  the WHERE of a view over a rollup table's clean hours (v_rollup, v_task_rollup).
#   $lever_sums  the routing levers' additive columns, summed (tierscope.terms.LEVER_COUNTS, LEVER_MONEY).
_SCOPE = ("tenant = {tenant:String}, since = {since:DateTime64(9, 'UTC')}, until = {until:DateTime64(9, 'UTC')}, "
          "roles = {roles:Array(String)}, teams = {teams:Array(String)}, services = {services:Array(String)}, "
          "environments = {environments:Array(String)}")
# The clean parts of a rollup table (spend_rollup, task_rollup) a view reads, in a tenant's
# [since, until): the hours of [h0, h1) not in `dirty` from their hour rows, the 5-minute `units`
# from their unit rows, each from its latest refresh (rollup_stamps), the shared filters
# (collector/store/rollup.py plans which).
_CLEAN_HOURS = """tenant = {tenant:String}
  AND hour >= {since:DateTime64(9, 'UTC')} AND hour < {until:DateTime64(9, 'UTC')}
  AND ((minutes = 60 AND hour >= {h0:DateTime64(9, 'UTC')} AND hour < {h1:DateTime64(9, 'UTC')}
        AND NOT has({dirty:Array(DateTime('UTC'))}, hour))
       OR (minutes = 5 AND hour IN {units:Array(DateTime('UTC'))}))
  AND (hour, minutes, version) GLOBAL IN (
      SELECT hour, minutes, max(computed_at) FROM rollup_stamps
      WHERE tenant = {tenant:String} AND hour >= {since:DateTime64(9, 'UTC')} AND hour < {until:DateTime64(9, 'UTC')}
      GROUP BY hour, minutes)
  AND (empty({roles:Array(String)}) OR has({roles:Array(String)}, role))
  AND (empty({teams:Array(String)}) OR has({teams:Array(String)}, team))
  AND (empty({services:Array(String)}) OR has({services:Array(String)}, service))
  AND (empty({environments:Array(String)}) OR has({environments:Array(String)}, environment))"""
MACROS = {
    "$scope": _SCOPE + ", parts = 1, part = 0",
    "$clean_hours": _CLEAN_HOURS,
    "$slice": _SCOPE + ", parts = {parts:UInt64}, part = {part:UInt64}",
    # $tasks  the arguments of v_tasks: the scope, the feature filter, the clean hours [h0, h1) but
    #         `dirty` and the `units` read from the per-task rollup (all within [rollup_since, rollup_until)),
    #         and RAW_SLOTS ranges read raw (collector/read/tasks.py)
    "$tasks": ("tenant = {tenant:String}, roles = {roles:Array(String)}, teams = {teams:Array(String)}, "
               "services = {services:Array(String)}, environments = {environments:Array(String)}, "
               "features = {features:Array(String)}, h0 = {h0:DateTime64(9, 'UTC')}, h1 = {h1:DateTime64(9, 'UTC')}, "
               "dirty = {dirty:Array(DateTime('UTC'))}, units = {units:Array(DateTime('UTC'))}, "
               "rollup_since = {rollup_since:DateTime64(9, 'UTC')}, rollup_until = {rollup_until:DateTime64(9, 'UTC')}, "
               "raw0_since = {raw0_since:DateTime64(9, 'UTC')}, raw0_until = {raw0_until:DateTime64(9, 'UTC')}, "
               "raw1_since = {raw1_since:DateTime64(9, 'UTC')}, raw1_until = {raw1_until:DateTime64(9, 'UTC')}, "
               "raw2_since = {raw2_since:DateTime64(9, 'UTC')}, raw2_until = {raw2_until:DateTime64(9, 'UTC')}, "
               "raw3_since = {raw3_since:DateTime64(9, 'UTC')}, raw3_until = {raw3_until:DateTime64(9, 'UTC')}"),
    "$sums": ", ".join([f"sum({c}) AS {c}" for c in GROUP_COUNTS]
                       + ["ifNull(sum(cost_usd), toDecimal128(0, 18)) AS cost_usd", "sum(quality_sum) AS quality_sum"]),
    "$lever_sums": ", ".join([f"sum({c}) AS {c}" for c in LEVER_COUNTS]
                             + [f"ifNull(sum({c}), toDecimal128(0, 18)) AS {c}" for c in LEVER_MONEY]),
}
# An aggregate over v_spans or v_spans_unscored reads the clean hours of the rollup by the same text
# with v_rollup in their place (v_rollup offers the columns they give aggregates, under the same names).
_SPAN_SOURCE = re.compile(r"\bv_spans(?:_unscored)?\(\$scope\)")
ROLLUP_SOURCE = ("v_rollup($scope, h0 = {h0:DateTime64(9, 'UTC')}, h1 = {h1:DateTime64(9, 'UTC')}, "
                 "dirty = {dirty:Array(DateTime('UTC'))}, units = {units:Array(DateTime('UTC'))})")


def read_sql(kind: str, name: str, over_rollup: bool = False) -> str:
    """Text of `sql/<kind>/<name>.sql` from the installed package, its MACROS expanded; with
    `over_rollup`, an aggregate's text reading v_rollup instead of v_spans (binds h0, h1, dirty and
    units too: rollup.clean_hours)."""
    text = resources.files("tierscope.sql").joinpath(kind, f"{name}.sql").read_text()
    if over_rollup:
        text, found = _SPAN_SOURCE.subn(ROLLUP_SOURCE, text)
        if found != 1:
            raise StoreError(f"sql/{kind}/{name}.sql must read v_spans($scope) once to be read over the rollup")
    for word, expansion in MACROS.items():
        text = text.replace(word, expansion)
    return text


def split_statements(text: str) -> list[str]:
    """Split a migration file on `;` at line ends; comments-only chunks are dropped."""
    statements = []
    for chunk in re.split(r";\s*(?:\n|$)", text):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            statements.append(body)
    return statements


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, text) of every migration, in order."""
    folder = resources.files("tierscope.sql").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name[:-4], entry.read_text()))
    return sorted(found)


def views(order: Sequence[str] = VIEWS) -> list[tuple[str, str]]:
    """(name, CREATE OR REPLACE VIEW statement) of every view in sql/views, in `order`.

    Checked on every use, so a wrong order fails before anything runs: `order` must name exactly
    the files there, each file must create the view it is named after, and a view may read only
    the views before it (StoreError otherwise)."""
    folder = resources.files("tierscope.sql").joinpath("views")
    files = sorted(entry.name[:-4] for entry in folder.iterdir() if entry.name.endswith(".sql"))
    if sorted(order) != files:
        raise StoreError(f"sql/views holds {', '.join(files)}; the view order names {', '.join(sorted(order))}")
    found = []
    for i, name in enumerate(order):
        statements = split_statements(read_sql("views", name))
        match = _VIEW_STATEMENT.match(statements[0]) if len(statements) == 1 else None
        if not match or match.group(1) != name:
            raise StoreError(f"sql/views/{name}.sql must hold one statement: CREATE OR REPLACE VIEW {name} AS ...")
        later = set(order[i:]) & set(_READS.findall(statements[0]))
        if later:
            raise StoreError(f"view {name} reads {', '.join(sorted(later))}, which must be created before it")
        found.append((name, statements[0]))
    return found


# Read settings for every named query (bench/results/experiments.md): build the join's hash table
# from the small late-quality side, and run FINAL per partition (a retried span keeps its start
# time, so both copies are always in the same monthly partition).
READ_SETTINGS = {"query_plan_join_swap_table": "false", "do_not_merge_across_partitions_select_final": 1}
# Trace ids bound into one rollup_mark_traces statement: chdb 26.9 stalls on an array parameter of
# ~30,000 ids (20,000 took 0.5 s), so larger late-quality batches are marked in slices.
MARK_TRACES_PER_STATEMENT = 5_000
# Reads deduplicate with FINAL, so per-insert deduplication is wasted work.
INSERT_SETTINGS = {"optimize_on_insert": 0}


def _lock_holder(path: Path) -> str | None:
    """`PID 1234` when another process holds the embedded store (the engine flock()s PATH/status
    and writes its PID there while it runs), else None. Asked only after opening failed, since the
    engine's own error says just "Error initializing EmbeddedServer"."""
    try:
        fd = os.open(path / "status", os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            found = re.search(r"PID: (\d+)", os.read(fd, 512).decode(errors="replace"))
            return f"PID {found.group(1)}" if found else "unknown PID"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class Store:
    """A migrated ClickHouse database with typed insert and named-query helpers.

    Thread-safe, with no lock of its own: each call takes a client no other call is using (a chdb
    connection to the process's one embedded engine, or an HTTP client), so the engine runs an
    insert beside a long read or a rollup fill, as a server does for several collectors. Clients are
    kept for reuse: as many as calls ever ran at once.
    """

    def __init__(self, url: str = DEFAULT_STORE) -> None:
        self.url = StoreURL.parse(url)
        self._pool = threading.Condition()
        self._idle = [self._connect()]  # the first now: a store that cannot open fails here
        self._every = list(self._idle)
        self._busy = 0
        self._closed = False

    @contextmanager
    def _client(self) -> Iterator[Any]:
        """A client for one call, given back after it."""
        with self._pool:
            if self._closed:
                raise StoreError(f"store {self.describe()} is closed")
            self._busy += 1
            client = self._idle.pop() if self._idle else None
        try:
            if client is None:
                client = self._connect()
                with self._pool:
                    self._every.append(client)
            yield client
        finally:
            with self._pool:
                self._busy -= 1
                late = self._closed  # closed (after its timeout) while this call ran: close this client too
                if client is not None and not late:
                    self._idle.append(client)
                self._pool.notify_all()
            if client is not None and late:
                client.close()

    def _connect(self) -> Any:
        u = self.url
        try:
            if u.kind == "chdb":
                Path(u.path).mkdir(parents=True, exist_ok=True)
                return clickhouse_connect.get_client(interface="chdb", path=u.path)
            return clickhouse_connect.get_client(
                host=u.host, port=u.port, username=u.username, password=u.password,
                database=u.database, secure=u.secure, connect_timeout=5,
            )
        except Exception as exc:  # clickhouse-connect and chdb raise many types
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            holder = _lock_holder(Path(u.path)) if u.kind == "chdb" else None
            if holder or "lock" in text.lower():
                raise StoreError(
                    f"store {u.path} is locked by another process ({holder or 'a running collector?'}): "
                    "read it through that collector's API instead (--api URL)"
                ) from exc
            raise StoreError(f"cannot open store {self.describe()}: {text}") from exc

    def describe(self) -> str:
        u = self.url
        return f"chdb:{u.path}" if u.kind == "chdb" else f"http{'s' if u.secure else ''}://{u.host}:{u.port}/{u.database}"

    # --- schema -----------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded, then create every view afresh; returns the names of
        the migrations applied (views are not counted: they are created every time). Idempotent."""
        defined = views()
        with self._client() as client:
            client.command(MIGRATIONS_TABLE_DDL)
            done = {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}
            applied = []
            for version, name, text in migrations():
                if version in done:
                    continue
                for statement in split_statements(text):
                    client.command(statement)
                client.command(
                    "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
                    parameters={"v": version, "n": name},
                )
                applied.append(name)
                log.info("applied migration %s", name)
            for name in RETIRED_VIEWS:
                client.command(f"DROP VIEW IF EXISTS {name}")
            for _, statement in defined:
                client.command(statement)
            return applied

    # --- writes -----------------------------------------------------------------------------------
    def insert(self, table: str, rows: pa.Table) -> None:
        """Insert Arrow rows; spans and late quality also stamp the 5-minute units they change (after the
        insert, so a refresh that starts later is sure to see the rows: see sql/migrations/0004)."""
        if rows.num_rows == 0:
            return
        self.insert_arrow(table, rows)
        if table == "llm_spans":
            self.mark_units(rows)
        elif table == "quality_events":
            tenants, traces = pc.unique(rows["tenant"]).to_pylist(), pc.unique(rows["trace_id"]).to_pylist()
            for i in range(0, len(traces), MARK_TRACES_PER_STATEMENT):
                self.execute("rollup_mark_traces",
                             {"tenants": tenants, "traces": traces[i:i + MARK_TRACES_PER_STATEMENT]})

    def insert_arrow(self, table: str, rows: pa.Table, settings: Mapping[str, Any] = INSERT_SETTINGS) -> None:
        """Insert Arrow rows as they are, marking nothing (`insert` is the one to use for spans)."""
        with self._client() as client:
            client.insert_arrow(table, rows, settings=dict(settings))

    def mark_units(self, spans: pa.Table) -> None:
        """Stamp the (tenant, 5-minute unit) pairs of `spans` as changed."""
        units = pa.table({"tenant": spans["tenant"],
                          "unit": pc.floor_temporal(spans["start_time"], 5, unit="minute")}).group_by(["tenant", "unit"])
        pairs = units.aggregate([])
        self.execute("rollup_mark_units", {"tenants": pairs["tenant"].to_pylist(), "units": pairs["unit"].to_pylist()})

    def execute(self, name: str, parameters: Mapping[str, Any]) -> Any:
        """Run the named statement `sql/queries/<name>.sql` (an INSERT ... SELECT) with bound parameters."""
        with self._client() as client:
            return client.command(read_sql("queries", name), parameters=dict(parameters), settings=READ_SETTINGS)

    # --- reads ------------------------------------------------------------------------------------
    def query(self, name: str, parameters: Mapping[str, Any], over_rollup: bool = False) -> list[dict[str, Any]]:
        """Run the named query `sql/queries/<name>.sql` with bound parameters (over the rollup: see
        read_sql); rows as dicts."""
        with self._client() as client:
            result = client.query(read_sql("queries", name, over_rollup), parameters=dict(parameters),
                                  settings=READ_SETTINGS)
        columns = result.column_names
        return [dict(zip(columns, row)) for row in result.result_rows]

    def query_arrow(self, name: str, parameters: Mapping[str, Any], over_rollup: bool = False) -> pa.Table:
        return self.arrow(read_sql("queries", name, over_rollup), parameters, READ_SETTINGS)

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """Internal statements (fixed text, bound parameters); never user-supplied SQL."""
        with self._client() as client:
            return client.command(sql, parameters=dict(parameters or {}))

    def rows(self, sql: str, parameters: Mapping[str, Any] | None = None,
             settings: Mapping[str, Any] | None = None) -> list[tuple]:
        with self._client() as client:
            return client.query(sql, parameters=dict(parameters or {}), settings=dict(settings or {})).result_rows

    def arrow(self, sql: str, parameters: Mapping[str, Any] | None = None,
              settings: Mapping[str, Any] | None = None) -> pa.Table:
        """Rows of a fixed internal statement as an Arrow table."""
        with self._client() as client:
            return client.query_arrow(sql, parameters=dict(parameters or {}), settings=dict(settings or {}))

    def close(self, timeout: float = 60.0) -> None:
        """Close every client once the calls under way have ended (at most `timeout` seconds: an
        engine closed under a running call would take the process down); later calls raise StoreError."""
        with self._pool:
            if self._closed:
                return
            self._closed = True
            self._pool.wait_for(lambda: self._busy == 0, timeout)
            clients, self._idle, self._every = self._every, [], []
        for client in clients:
            try:
                client.close()
            except Exception:  # a dead server: nothing to close
                pass
