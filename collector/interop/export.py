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
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
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
# (column, type, unit, meaning); the order is the files' column order.
SPAN_COLUMNS = (
    ("start_time", "time", "UTC", "when the LLM call started"),
    ("end_time", "time", "UTC", "when it ended"),
    ("duration_ms", "int", "milliseconds", "end_time - start_time"),
    ("trace_id", "string", "", "OpenTelemetry trace id, 32 hex"),
    ("span_id", "string", "", "OpenTelemetry span id, 16 hex; (trace_id, span_id) is unique"),
    ("parent_span_id", "string", "", "the calling span, '' for a root"),
    ("service", "string", "", "service.name of the application"),
    ("environment", "string", "", "deployment environment"),
    ("team", "string", "", "tierscope.team"),
    ("feature", "string", "", "tierscope.feature"),
    ("role", "string", "", "agent role (tierscope.role)"),
    ("tier", "string", "", "model tier: frontier, mid, small or local"),
    ("operation", "string", "", "GenAI operation, e.g. chat"),
    ("provider", "string", "", "LLM provider"),
    ("model", "string", "", "model that answered (else the one requested)"),
    ("service_tier", "string", "", "service tier that served the call (priority, flex, default, ...), priced at"),
    ("processing", "string", "", "batch for Batch API work (priced at the batch rate), else ''"),
    ("status_code", "string", "", "UNSET, OK or ERROR"),
    ("error_type", "string", "", "error.type of a failed call"),
    ("input_tokens", "int", "tokens", "all input tokens, cache reads and writes included"),
    ("output_tokens", "int", "tokens", "all output tokens, reasoning included"),
    ("cache_read_tokens", "int", "tokens", "input tokens read from the prompt cache"),
    ("cache_write_tokens", "int", "tokens", "input tokens written to the prompt cache"),
    ("reasoning_tokens", "int", "tokens", "output tokens spent reasoning"),
    ("cost_usd", "usd", "US dollars", "exact price of the call; empty when the model is unpriced"),
    ("priced", "bool", "", "false: no price known, cost_usd empty (never $0)"),
    ("price_source", "string", "", "genai-prices or override"),
    ("quality", "float", "0..1", "latest quality score of the answer, if any"),
    ("quality_from", "string", "", "where that score came from"),
    ("router_propensity", "float", "probability", "chance the router picked this model"),
    ("escalated_from", "string", "", "model of the failed call this one retried"),
)
MONTH_COLUMNS = (
    ("month", "string", "YYYY-MM", "the month, midnight-to-midnight in time zone `tz`"),
    *((d, "string", "", f"{d} (one row per distinct {', '.join(MONTH_BY)})") for d in MONTH_BY),
    ("spans", "int", "calls", "LLM calls"),
    *((t, "int", "tokens", "as in spans") for t in TOKEN_COUNTS),
    ("cost_usd", "usd", "US dollars", "sum of the priced calls' cost_usd"),
    ("unpriced_spans", "int", "calls", "calls with no known price (not in cost_usd)"),
    ("failed_spans", "int", "calls", "calls that ended in an error (billed only for the usage reported)"),
    ("previous_cost_usd", "usd", "US dollars", "the same group's cost the month before"),
    ("change_usd", "usd", "US dollars", "cost_usd - previous_cost_usd"),
    ("quality_mean", "float", "0..1", "mean quality of the graded calls"),
    ("quality_n", "int", "calls", "graded calls"),
)

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
