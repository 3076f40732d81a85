"""A month's provider invoices lined up with what tierscope measured, per provider and model.

Matching, per provider (names compared case-insensitively):
1. the same model name on both sides;
2. otherwise names that differ only by a snapshot suffix: a date (`gpt-4o-2024-08-06`,
   `claude-sonnet-4-5-20250929`) or `-latest` (`claude-3-5-haiku-latest`) against the alias
   (`gpt-4o`), when exactly one name on each side shares that base;
3. a base shared by one name on one side and several on the other (`gpt-4o` measured, two
   `gpt-4o-...` snapshots billed) is ambiguous: reported in `ambiguous`, its names left unmatched.
A billed model nobody measured is a row with tierscope_usd "0" (untracked spend); a measured model
not billed a row with invoice_usd "0". difference_usd = invoice_usd - tierscope_usd; coverage =
tierscope_usd / invoice_usd (to six decimals; null when nothing is billed). Rows come largest
absolute difference first. Money is exact decimal strings; unpriced calls are counted, never $0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tierscope.collector.interop.invoices import InvoiceLine
from tierscope.collector.read.months import month_bounds
from tierscope.terms import decimal_text

_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$")
COLUMNS = ["provider", "model", "invoice_usd", "tierscope_usd", "difference_usd", "unpriced_spans"]


def base_name(model: str) -> str:
    """The alias a snapshot name belongs to: `gpt-4o-2024-08-06` -> `gpt-4o`."""
    return _SNAPSHOT.sub("", model.strip().lower())


@dataclass
class _Side:
    name: str
    usd: Decimal = Decimal(0)
    unpriced: int = 0


def in_month(lines: Iterable[InvoiceLine], month: str, tz: str) -> list[InvoiceLine]:
    """The lines whose date falls in the month. Providers bill whole UTC days, which cannot be split,
    so a line goes by its date (the UTC date of an API bucket, a CSV's date as written) read as a
    day in `tz`, the zone of tierscope's side of the month."""
    since, until = month_bounds(month, tz)
    zone = ZoneInfo(tz)

    def day(x: InvoiceLine) -> datetime:
        d = x.start.astimezone(UTC).date() if x.start.tzinfo else x.start.date()
        return datetime(d.year, d.month, d.day, tzinfo=zone)

    return [x for x in lines if since <= day(x) < until]


def _pairs(billed: dict[str, _Side], measured: dict[str, _Side]) -> tuple[list[tuple[str | None, str | None]], list[dict]]:
    """Matched (billed, measured) keys, one-sided keys as (key, None) / (None, key), and the
    ambiguous bases, for one provider."""
    pairs = [(k, k) for k in billed if k in measured]
    left = {k for k in billed if k not in measured}
    right = {k for k in measured if k not in billed}
    ambiguous = []
    for base in sorted({base_name(k) for k in left | right}):
        bs = sorted(k for k in left if base_name(k) == base)
        ms = sorted(k for k in right if base_name(k) == base)
        if len(bs) == 1 and len(ms) == 1:
            pairs.append((bs[0], ms[0]))
            left.discard(bs[0])
            right.discard(ms[0])
        elif bs and ms:
            ambiguous.append({"base": base, "invoice_models": [billed[k].name for k in bs],
                              "tierscope_models": [measured[k].name for k in ms]})
    pairs += [(k, None) for k in sorted(left)] + [(None, k) for k in sorted(right)]
    return pairs, ambiguous


def _sides(items: Iterable[tuple[str, str, Decimal, int]]) -> dict[str, dict[str, _Side]]:
    out: dict[str, dict[str, _Side]] = {}
    for provider, model, usd, unpriced in items:
        side = out.setdefault(provider.lower(), {}).setdefault(model.strip().lower(), _Side(model.strip()))
        side.usd += usd
        side.unpriced += unpriced
    return out


def reconcile(month: str, tz: str, lines: Iterable[InvoiceLine], measured_rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The reconciliation of `month`: invoice lines (already parsed) against `measured_rows`, the
    read API's month close by provider and model (cost_usd, unpriced_spans)."""
    billed = _sides((x.provider, x.model, x.amount_usd, 0) for x in in_month(lines, month, tz))
    measured = _sides((r["provider"], r["model"], Decimal(r["cost_usd"]), int(r["unpriced_spans"]))
                      for r in measured_rows)
    rows, matches, ambiguous = [], [], []
    for provider in sorted(set(billed) | set(measured)):
        b, m = billed.get(provider, {}), measured.get(provider, {})
        pairs, unclear = _pairs(b, m)
        ambiguous += [{"provider": provider, **a} for a in unclear]
        for bk, mk in pairs:
            bill, meas = b.get(bk or "", _Side("")), m.get(mk or "", _Side(""))
            if bk and mk and bill.name != meas.name:
                matches.append({"provider": provider, "invoice_model": bill.name, "tierscope_model": meas.name})
            rows.append({"provider": provider, "model": bill.name or meas.name, "invoice_usd": bill.usd,
                         "tierscope_usd": meas.usd, "difference_usd": bill.usd - meas.usd,
                         "unpriced_spans": meas.unpriced})
    rows.sort(key=lambda r: (-abs(r["difference_usd"]), r["provider"], r["model"]))
    invoice = sum((r["invoice_usd"] for r in rows), Decimal(0))
    ours = sum((r["tierscope_usd"] for r in rows), Decimal(0))
    coverage = decimal_text((ours / invoice).quantize(Decimal("0.000001"))) if invoice else None
    return {
        "month": month,
        "rows": [{k: decimal_text(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows],
        "total": {"invoice_usd": decimal_text(invoice), "tierscope_usd": decimal_text(ours),
                  "difference_usd": decimal_text(invoice - ours), "coverage": coverage},
        "matches": matches,
        "ambiguous": ambiguous,
    }
