"""The SQL files as files: views live in sql/views, one a file, in a declared order that a test can
break; migrations hold tables and data moves only; comments say what and why, never what was
measured; and sql/views ships in the wheel. No engine runs here."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from tierscope.collector.store.clickhouse import VIEWS, StoreError, migrations, split_statements, views

ROOT = Path(__file__).resolve().parents[2]
# A number with a unit of time, size or share, a ±, or a before -> after pair: a measurement.
_MEASUREMENT = re.compile(
    r"\d[\d,._]*\s?(?:ns|µs|us|ms|s|sec|seconds?|minutes?|KiB|MiB|GiB|kB|KB|MB|GB|k|M|%)(?![A-Za-z])"
    r"|±|\d\s*->\s*\d")


def sql_files() -> list[Path]:
    return sorted((ROOT / "sql").rglob("*.sql"))


def test_views_are_created_in_their_declared_order_each_after_what_it_reads():
    defined = views()
    assert [name for name, _ in defined] == list(VIEWS)
    assert sorted(p.stem for p in (ROOT / "sql" / "views").glob("*.sql")) == sorted(VIEWS)
    for name, statement in defined:
        assert statement.startswith(f"CREATE OR REPLACE VIEW {name} AS\n")
    # v_spans reads v_spans_unscored, so it comes first
    assert VIEWS.index("v_spans_unscored") < VIEWS.index("v_spans")


@pytest.mark.parametrize("order, message", [
    (("v_spans", "v_spans_unscored", "v_rollup", "v_task_rollup", "v_tasks"), "view v_spans reads v_spans_unscored, which must"),
    (("v_spans_unscored", "v_rollup", "v_task_rollup", "v_tasks"),
     "sql/views holds v_rollup, v_spans, v_spans_unscored, v_task_rollup, v_tasks"),
    (("v_spans_unscored", "v_spans", "v_rollup", "v_tasks", "v_task_rollup"), "view v_tasks reads v_task_rollup, which must"),
    (("v_spans_unscored", "v_spans", "v_rollup", "v_spans"), "the view order names"),
])
def test_an_order_that_disagrees_with_the_files_is_refused(order, message):
    with pytest.raises(StoreError, match=re.escape(message)):
        views(order)


def test_migrations_hold_no_views():
    for version, name, text in migrations():
        for statement in split_statements(text):
            assert not re.search(r"\bVIEW\b", statement, re.IGNORECASE), f"{name} defines a view: move it to sql/views"
    assert [v for v, _, _ in migrations()] == list(range(1, len(migrations()) + 1))  # numbers stay taken


def test_sql_comments_hold_no_measurements():
    found = []
    for path in sql_files():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            comment = line.split("--", 1)[1] if "--" in line else ""
            if _MEASUREMENT.search(comment):
                found.append(f"{path.relative_to(ROOT)}:{n}: {comment.strip()}")
    assert found == []


@pytest.mark.parametrize("comment", [
    "a raw hour of 100k spans 214 -> 49 ms", "took 193 MiB", "±13% of the soak", "(seconds at 10M spans)",
    "~0.6 s at 500k events",
])
def test_the_measurement_check_knows_a_measurement(comment):
    assert _MEASUREMENT.search(comment)


def test_the_views_ship_in_the_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "tierscope.sql.views" in config["packages"]
    assert config["package-data"]["tierscope.sql.views"] == ["*.sql"]
    assert {e.name for e in resources.files("tierscope.sql").joinpath("views").iterdir()} >= {f"{v}.sql" for v in VIEWS}
