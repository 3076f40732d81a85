"""Month close (GET month) as finance's table: detail rows, a subtotal after each group, a grand
total; and the same lines as CSV and Parquet with exact decimal money (never a float).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tierscope.dashboard.transforms import count_text, dec, label, money_text, spend_text
from tierscope.terms import decimal_text

MONEY = ("cost_usd", "previous_to_date_cost_usd", "change_to_date_usd", "previous_cost_usd", "change_usd")
COUNTS = ("spans", "input_tokens", "output_tokens", "unpriced_spans")
_DECIMAL = pa.decimal128(38, 18)


def month_lines(close: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Detail rows, each group followed by its subtotal, then the grand total; money as Decimal."""
    by: list[str] = close["by"]
    first = by[0]

    def line(kind: str, source: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {"row_type": kind, **{d: names.get(d, "") for d in by}}
        out.update({k: int(source.get(k, 0)) for k in COUNTS})
        cost, previous = dec(source["cost_usd"]), dec(source.get("previous_cost_usd"))
        to_date = dec(source.get("previous_to_date_cost_usd", source.get("previous_cost_usd")))
        out.update(cost_usd=cost, previous_to_date_cost_usd=to_date, change_to_date_usd=cost - to_date,
                   previous_cost_usd=previous, change_usd=cost - previous)
        return out

    lines = []
    for sub in close["subtotals"]:
        part = [r for r in close["rows"] if r[first] == sub[first]]
        lines += [line("detail", r, r) for r in part]
        lines.append(line("subtotal", sub, {first: sub[first]}))
    lines.append(line("total", close["total"], {}))
    return lines


def month_display(lines: list[dict[str, Any]], by: list[str]) -> pd.DataFrame:
    records = []
    for x in lines:
        names = {d.capitalize(): label(x[d]) if x["row_type"] == "detail" else x[d] for d in by}
        if x["row_type"] == "subtotal":
            names[by[0].capitalize()] = f"{label(x[by[0]])} — subtotal"
        elif x["row_type"] == "total":
            names[by[0].capitalize()] = "Grand total"
        records.append({**names, "Calls": count_text(x["spans"]),
                        "Tokens": count_text(x["input_tokens"] + x["output_tokens"]),
                        "Spend": spend_text(x), "Previous month, same days": money_text(x["previous_to_date_cost_usd"]),
                        "Change": money_text(x["change_to_date_usd"]),
                        "Previous month, full": money_text(x["previous_cost_usd"]),
                        "Unpriced calls": count_text(x["unpriced_spans"])})
    return pd.DataFrame(records)


def month_csv(lines: list[dict[str, Any]], month: str, tz: str) -> bytes:
    """CSV with money as exact decimal strings (`0.000270000000000000` -> `0.00027`)."""
    out = io.StringIO()
    if not lines:
        return b""
    fields = ["month", "tz", *lines[0].keys()]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for x in lines:
        writer.writerow({"month": month, "tz": tz, **{k: decimal_text(v) if isinstance(v, Decimal) else v
                                                      for k, v in x.items()}})
    return out.getvalue().encode()


def month_parquet(lines: list[dict[str, Any]], month: str, tz: str) -> bytes:
    """Parquet with money as decimal128(38, 18) columns."""
    if not lines:
        return b""
    columns: dict[str, pa.Array] = {"month": pa.array([month] * len(lines)), "tz": pa.array([tz] * len(lines))}
    for key in lines[0]:
        values = [x[key] for x in lines]
        if key in MONEY:
            columns[key] = pa.array(values, _DECIMAL)
        elif key in COUNTS:
            columns[key] = pa.array(values, pa.int64())
        else:
            columns[key] = pa.array(values, pa.string())
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def month_options(first_span: str | None, last_span: str | None, tz: str, now: datetime) -> list[str]:
    """`YYYY-MM` from the month of the first span to the current month (or the last span's), newest first."""
    zone = ZoneInfo(tz)
    end = max(datetime.fromisoformat(last_span).astimezone(zone), now.astimezone(zone)) if last_span else now.astimezone(zone)
    start = datetime.fromisoformat(first_span).astimezone(zone) if first_span else end
    months = []
    year, month = end.year, end.month
    while (year, month) >= (start.year, start.month):
        months.append(f"{year}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months
