"""`tierscope export`: one month as files for a BI tool: every span, and the month-close table.

Reads through the same read-API functions as everyone else (over HTTP with `--api`, or on a store
opened directly with `--store`), so the files hold exactly what the dashboard and `tierscope month`
show. Beside the data goes `schema.json` (and the same as README.md): each column's type, unit and
meaning, and the totals to reconcile against. Money is never a float: exact decimal strings in CSV,
decimal128(38, 18) in Parquet.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tierscope import clock
from tierscope.client import ApiClient
from tierscope.collector.read import api
from tierscope.collector.read.months import month_bounds
from tierscope.terms import TOKEN_COUNTS

PAGE = 10_000  # the read API's largest page
MONTH_BY = ("team", "role", "tier", "model", "provider", "service_tier", "processing")
MONEY = pa.decimal128(38, 18)
_TS = pa.timestamp("us", tz="UTC")
_TYPES = {"string": pa.string(), "int": pa.int64(), "bool": pa.bool_(), "float": pa.float64(),
          "usd": MONEY, "time": _TS}


def _columns() -> dict[str, tuple[tuple[str, str, str, str], ...]]:
    """The files' columns from export_columns.toml, (name, type, unit, meaning) in file order."""
    tables = tomllib.loads(resources.files(__package__).joinpath("export_columns.toml").read_text())
    each = {"{dimension}": MONTH_BY, "{token}": TOKEN_COUNTS}
    out = {}
    for table, rows in tables.items():
        out[table] = tuple((n, kind, unit, meaning.format(dimension=n, dimensions=", ".join(MONTH_BY))
                            if name in each else meaning)
                           for name, kind, unit, meaning in rows for n in each.get(name, (name,)))
    return out


_COLUMNS = _columns()
SPAN_COLUMNS, MONTH_COLUMNS = _COLUMNS["spans"], _COLUMNS["monthly"]


Reader = Callable[[str, dict[str, Any]], dict[str, Any]]


def api_reader(base_url: str, token: str = "") -> Reader:
    client = ApiClient(base_url, timeout=300, token=token)
    return lambda endpoint, params: client.get(endpoint, **params)


def store_reader(store: Any, tenant: str = "default", policy_file: str = "", prices_file: str = "") -> Reader:
    handlers = api.endpoints(policy_file, prices_file)

    def read(endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        text = {k: ",".join(v) if isinstance(v, (list, tuple)) else str(v) for k, v in params.items()}
        return json.loads(json.dumps(handlers[endpoint](store, text, tenant), default=str))

    return read


def _days(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    days, day = [], since
    while day < until:
        days.append((day, min(day + timedelta(days=1), until)))
        day += timedelta(days=1)
    return days


def month_span_rows(read: Reader, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Every span of [since, until), a day and a page at a time, oldest day first."""
    rows: list[dict[str, Any]] = []
    for start, end in _days(since, until):
        offset = 0
        while True:
            page = read("spans", {"since": start.isoformat(), "until": end.isoformat(), "limit": PAGE,
                                  "offset": offset})["rows"]
            rows += page
            if len(page) < PAGE:
                break
            offset += PAGE
    return rows


def _column(values: list[Any], kind: str) -> pa.Array:
    if kind == "usd":
        return pa.array([None if v is None else Decimal(v) for v in values], MONEY)
    if kind == "time":
        return pa.array([None if v is None else datetime.fromisoformat(v) for v in values], _TS)
    return pa.array(values, _TYPES[kind])


def table_of(rows: list[dict[str, Any]], spec: tuple) -> pa.Table:
    return pa.table({name: _column([r.get(name) for r in rows], kind) for name, kind, _, _ in spec})


def _write(rows: list[dict[str, Any]], spec: tuple, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table_of(rows, spec), path)
        return
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([name for name, *_ in spec])
        for r in rows:  # money and times as the API gives them: exact decimal and ISO 8601 strings
            writer.writerow(["" if r.get(n) is None else str(r[n]).lower() if k == "bool" else r[n]
                             for n, k, *_ in spec])


def schema_note(month: str, tz: str, fmt: str, files: dict[str, str], totals: dict[str, Any]) -> dict[str, Any]:
    money = ("exact decimal string, e.g. 0.001234 (never rounded, never exponent)" if fmt == "csv"
             else "decimal128(38, 18): exact")
    tables = {"spans": SPAN_COLUMNS, "monthly": MONTH_COLUMNS}
    return {"month": month, "tz": tz, "format": fmt, "files": files, "money": money, "totals": totals,
            "tables": {t: [{"name": n, "type": str(_TYPES[k]) if fmt == "parquet" else ("decimal string" if k == "usd"
                            else "ISO 8601" if k == "time" else k), "unit": u, "description": d}
                           for n, k, u, d in spec] for t, spec in tables.items()}}


def readme(note: dict[str, Any]) -> str:
    lines = [f"# tierscope export {note['month']} ({note['tz']}, {note['format']})", "",
             f"Money: {note['money']}. Empty cost_usd = unpriced, not $0.", "",
             f"Totals to reconcile: {json.dumps(note['totals'])}", ""]
    for table, columns in note["tables"].items():
        lines += [f"## {note['files'][table]}", "", "| column | type | unit | meaning |", "|---|---|---|---|"]
        lines += [f"| {c['name']} | {c['type']} | {c['unit']} | {c['description']} |" for c in columns] + [""]
    return "\n".join(lines)


def export_month(read: Reader, month: str, fmt: str, out: Path, tz: str = "UTC") -> dict[str, Any]:
    """Write the month's span and monthly tables plus schema.json/README.md into `out`; the note."""
    since, until = month_bounds(month, tz)
    as_of = clock.now()  # a month still open keeps growing: `complete` says so
    spans = month_span_rows(read, since, until)
    close = read("month", {"month": month, "by": list(MONTH_BY), "tz": tz})
    monthly = [{**r, "month": month} for r in close["rows"]]
    out.mkdir(parents=True, exist_ok=True)
    files = {"spans": f"tierscope-spans-{month}.{fmt}", "monthly": f"tierscope-monthly-{month}.{fmt}"}
    _write(spans, SPAN_COLUMNS, out / files["spans"], fmt)
    _write(monthly, MONTH_COLUMNS, out / files["monthly"], fmt)
    span_cost = sum((Decimal(r["cost_usd"]) for r in spans if r["cost_usd"] is not None), Decimal(0))
    totals = {"spans": len(spans), "cost_usd": f"{span_cost:f}", "monthly_cost_usd": close["total"]["cost_usd"],
              "monthly_spans": close["total"]["spans"], "complete": bool(close.get("complete")),
              "as_of": as_of.isoformat()}
    note = schema_note(month, tz, fmt, files, totals)
    (out / "schema.json").write_text(json.dumps(note, indent=2) + "\n")
    (out / "README.md").write_text(readme(note))
    return note
