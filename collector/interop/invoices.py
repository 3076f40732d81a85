"""Providers' own cost exports, parsed into invoice lines (provider, model, day, exact US dollars).

Three formats, told apart by their content:
- the OpenAI organization Costs API (`GET /v1/organization/costs?group_by=line_item`): pages of daily
  buckets (`start_time` in Unix seconds) whose results carry `amount.value` (a JSON number, read as
  an exact decimal) and `line_item`, "<model>, <component>" such as "gpt-4o-2024-08-06, input"; a
  line item without a model ("web search tool calls") is its own line;
- the Anthropic Admin API cost report (`GET /v1/organizations/cost_report?group_by[]=description`):
  daily buckets (`starting_at`, RFC 3339) whose results carry `amount`, a decimal string in cents
  ("123.45" is $1.23), and `model` (null for non-token costs, which then go by `description`);
- a CSV with the header `date,provider,model,amount_usd` (date YYYY-MM-DD).
A file may hold one page or a JSON list of pages. Anything else is one `InvoiceError` naming the
file and the line or field.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tierscope.errors import InvoiceError

CSV_HEADER = ["date", "provider", "model", "amount_usd"]


@dataclass(frozen=True)
class InvoiceLine:
    provider: str
    model: str
    start: datetime  # the start of the day the cost is for (UTC for the APIs; local for a CSV)
    amount_usd: Decimal


def parse_invoice(name: str, data: bytes) -> list[InvoiceLine]:
    """The lines of one export (`name` is its file name, used in errors and to spot a CSV)."""
    text = _text(name, data)
    if name.lower().endswith(".csv") or text.lstrip().lower().startswith("date,"):
        return _csv(name, text)
    try:
        body = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as exc:
        raise InvoiceError(f"{name}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    pages = body if isinstance(body, list) else [body]
    lines: list[InvoiceLine] = []
    for p, page in enumerate(pages):
        where = f"{name}: [{p}]" if isinstance(body, list) else f"{name}:"
        buckets = _field(page, "data", list, where)
        if buckets and isinstance(buckets[0], dict) and "start_time" in buckets[0]:
            lines += _openai(buckets, where)
        elif buckets and isinstance(buckets[0], dict) and "starting_at" in buckets[0]:
            lines += _anthropic(buckets, where)
        elif buckets:
            raise InvoiceError(f"{where} data[0] has neither start_time (OpenAI Costs API) nor starting_at "
                               "(Anthropic cost report)")
    return lines


def _text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvoiceError(f"{name}: not UTF-8 text (byte {exc.start})") from None


def _field(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise InvoiceError(f"{where} {key} is missing")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvoiceError(f"{where} {key} has the wrong type ({type(value).__name__})")
    return value


def _openai(buckets: list[Any], where: str) -> list[InvoiceLine]:
    lines = []
    for b, bucket in enumerate(buckets):
        at = f"{where} data[{b}]"
        start = datetime.fromtimestamp(int(_field(bucket, "start_time", Decimal, at)), UTC)
        for r, result in enumerate(_field(bucket, "results", list, at)):
            here = f"{at}.results[{r}]"
            amount = _field(result, "amount", dict, here)
            value = _field(amount, "value", Decimal, f"{here}.amount")
            if str(amount.get("currency", "usd")).lower() != "usd":
                raise InvoiceError(f"{here}.amount.currency is {amount.get('currency')!r}; only usd is reconciled")
            item = result.get("line_item") if isinstance(result, dict) else None
            if not isinstance(item, str) or not item.strip():
                raise InvoiceError(f"{here}.line_item is empty: export with group_by=line_item, so each line "
                                   "names its model")
            model = item.split(",", 1)[0].strip() if "," in item else item.strip()
            lines.append(InvoiceLine("openai", model, start, value))
    return lines


def _anthropic(buckets: list[Any], where: str) -> list[InvoiceLine]:
    lines = []
    for b, bucket in enumerate(buckets):
        at = f"{where} data[{b}]"
        start = _instant(_field(bucket, "starting_at", str, at), f"{at}.starting_at")
        for r, result in enumerate(_field(bucket, "results", list, at)):
            here = f"{at}.results[{r}]"
            cents = _decimal(_field(result, "amount", str, here), f"{here}.amount")
            if str(result.get("currency", "USD")).upper() != "USD":
                raise InvoiceError(f"{here}.currency is {result.get('currency')!r}; only USD is reconciled")
            model = result.get("model") or result.get("description")
            if not isinstance(model, str) or not model.strip():
                raise InvoiceError(f"{here}.model is empty: export with group_by[]=description, so each line "
                                   "names its model")
            lines.append(InvoiceLine("anthropic", model.strip(), start, cents / 100))
    return lines


def _instant(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvoiceError(f"{where} {text[:40]!r} is not an RFC 3339 time") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _decimal(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvoiceError(f"{where} {text[:40]!r} is not a decimal number") from None
    if not value.is_finite():
        raise InvoiceError(f"{where} {text[:40]!r} is not a finite number")
    return value


def _csv(name: str, text: str) -> list[InvoiceLine]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if header != CSV_HEADER:
        raise InvoiceError(f"{name} line 1: the header must be {','.join(CSV_HEADER)}, got {','.join(header)[:80]!r}")
    lines = []
    for row in reader:
        at = f"{name} line {reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(CSV_HEADER):
            raise InvoiceError(f"{at}: expected 4 fields ({','.join(CSV_HEADER)}), got {len(row)}")
        day, provider, model, amount = (cell.strip() for cell in row)
        try:
            start = date.fromisoformat(day)
        except ValueError:
            raise InvoiceError(f"{at}: date {day[:40]!r} is not YYYY-MM-DD") from None
        if not provider or not model:
            raise InvoiceError(f"{at}: provider and model must not be empty")
        lines.append(InvoiceLine(provider.lower(), model, datetime(start.year, start.month, start.day),
                                 _decimal(amount, f"{at}: amount_usd")))
    return lines
