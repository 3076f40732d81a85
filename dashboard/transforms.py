"""Pure transforms from read-API answers to display frames and text. No Streamlit, no I/O.

Money arrives as exact decimal strings and stays `Decimal` until it is formatted for display;
charts get floats (a bar's height is not an invoice line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from tierscope.terms import GROUP_COUNTS, TIERS

import pandas as pd

CENT = Decimal("0.01")
METRICS = {"Spend": "cost_usd", "Calls": "spans", "Tokens": "tokens", "Quality": "quality_mean"}


def dec(value: str | Decimal | int | None) -> Decimal:
    """An API money value as Decimal; None (nothing priced) counts as 0 only where we sum."""
    return Decimal(0) if value is None else Decimal(value)


def money_text(value: str | Decimal | int | None) -> str:
    """`$1,234.56`; sub-cent amounts keep two significant digits (`$0.0045`); None is `—`."""
    if value is None:
        return "—"
    amount = Decimal(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount == 0 or amount >= CENT:
        return f"{sign}${amount.quantize(CENT, ROUND_HALF_UP):,.2f}"
    places = -amount.adjusted() + 1
    text = f"{amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):f}".rstrip("0")
    return f"{sign}${text}"


def count_text(value: int | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def quality_text(mean: float | None, n: int | None = None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.3f}" if n is None else f"{mean:.3f} (n={n:,})"


def share_text(share: float) -> str:
    return f"{share:.1%}"


def time_text(iso: str) -> str:
    """`2026-11-13 04:47:40.000` (UTC, milliseconds) from an API timestamp."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def label(value: str) -> str:
    """Empty dimension values (a span without a team, say) shown as such, not as a blank."""
    return value if value else "(not set)"


def md_code(name: str) -> str:
    """A name (role, team, model ...) for text Streamlit renders as Markdown: an inline code span,
    so `**x**`, `$x$`, `:red[x]`, `<b>`, `[link](...)` and emoji shortcodes show as typed. The
    fence is longer than any backtick run in the name; a line break (which would end the span, or
    start a heading or list) shows as ↵. Streamlit rewrites `:material/` in the whole source, code
    spans included, so an invisible word joiner after the colon keeps it as typed."""
    text = re.sub(r"\r\n|\r|\n", "↵", name).replace(":material/", ":\u2060material/")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def spend_text(row: Mapping[str, Any]) -> str:
    """A group's spend; `unpriced` when none of its calls has a price (never a silent $0.00)."""
    if row["spans"] and row["unpriced_spans"] == row["spans"]:
        return "unpriced"
    return money_text(row["cost_usd"])


_SUMMED = GROUP_COUNTS


def regroup(rows: Iterable[Mapping[str, Any]], dims: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of GET spend grouped by more dimensions, summed up to `dims` (e.g. role x tier x model ->
    model), so a page needs one request rather than one per grouping. Counts and money are exact
    (Decimal); quality means are re-weighted by their sample counts. Dearest first, as the API orders."""
    out: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = tuple(r[d] for d in dims)
        into = out.get(key)
        if into is None:
            out[key] = into = {**{d: r[d] for d in dims}, **{k: 0 for k in _SUMMED}, "cost_usd": Decimal(0),
                               "_quality": 0.0}
        for k in _SUMMED:
            into[k] += r.get(k, 0)
        into["cost_usd"] += dec(r["cost_usd"])
        if r["quality_n"]:
            into["_quality"] += r["quality_mean"] * r["quality_n"]
    for row in out.values():
        weighted = row.pop("_quality")
        row["quality_mean"] = weighted / row["quality_n"] if row["quality_n"] else None
    return sorted(out.values(), key=lambda r: (-r["cost_usd"], -r["spans"], *(str(r[d]) for d in dims)))


def spend_frame(rows: Iterable[Mapping[str, Any]], dims: Sequence[str]) -> pd.DataFrame:
    """Grouped spend rows (GET spend) as a display table, in the API's order (most spend first)."""
    records = []
    for r in rows:
        record = {d.replace("_", " ").capitalize(): label(r[d]) for d in dims}
        record.update({
            "Spend": spend_text(r), "Calls": count_text(r["spans"]),
            "Input tokens": count_text(r["input_tokens"]), "Output tokens": count_text(r["output_tokens"]),
            "Quality": quality_text(r["quality_mean"], r["quality_n"]),
            "Unpriced calls": count_text(r["unpriced_spans"]), "Failed calls": count_text(r.get("failed_spans", 0)),
        })
        records.append(record)
    return pd.DataFrame(records)


def row_label(row: Mapping[str, Any], dims: Sequence[str]) -> str:
    """One line naming a grouped row, for drill-down pickers: `planner · frontier · gpt-4o — $1.20`."""
    return f"{' · '.join(label(row[d]) for d in dims)} — {spend_text(row)}"


def unpriced_models(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Models with unpriced calls (from GET spend by=model), most calls first."""
    found = [(r["unpriced_spans"], r["model"]) for r in rows if r.get("unpriced_spans")]
    return [label(model) for _, model in sorted(found, reverse=True)]


def timeseries_frame(rows: Iterable[Mapping[str, Any]], metric: str) -> pd.DataFrame:
    """Long frame (bucket, series, value) for one metric of GET spend/timeseries."""
    key = METRICS[metric]
    records = []
    for r in rows:
        if key == "cost_usd":
            value = float(dec(r["cost_usd"]))
        elif key == "tokens":
            value = r["input_tokens"] + r["output_tokens"]
        elif key == "quality_mean":
            if r["quality_mean"] is None:
                continue
            value = r["quality_mean"]
        else:
            value = r[key]
        records.append({"bucket": datetime.fromisoformat(r["bucket"]), "series": label(r["series"]),
                        "value": value, "n": r.get("quality_n", 0)})
    return pd.DataFrame(records, columns=["bucket", "series", "value", "n"])


def quality_by_first(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a two-way spend/timeseries split (series, series2) summed over series2: the mean
    quality per (bucket, series), weighted by sample counts."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if not r["quality_n"]:
            continue
        into = out.setdefault((r["bucket"], r["series"]), {"bucket": r["bucket"], "series": r["series"],
                                                            "weighted": 0.0, "quality_n": 0})
        into["weighted"] += r["quality_mean"] * r["quality_n"]
        into["quality_n"] += r["quality_n"]
    return [{"bucket": r["bucket"], "series": r["series"], "quality_n": r["quality_n"],
             "quality_mean": r["weighted"] / r["quality_n"]} for r in out.values()]


def top_frame(rows: Iterable[Mapping[str, Any]], dim: str, limit: int = 10) -> pd.DataFrame:
    """The `limit` largest spenders along one dimension, as (name, spend float, spend text)."""
    records = [{"name": label(r[dim]), "spend": float(dec(r["cost_usd"])), "text": spend_text(r)} for r in rows]
    records.sort(key=lambda x: x["spend"], reverse=True)
    return pd.DataFrame(records[:limit], columns=["name", "spend", "text"])


def quality_matrix(rows: Iterable[Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean quality and sample count by role (rows) x tier (columns), from GET spend by=role,tier."""
    records = [{"role": label(r["role"]), "tier": label(r["tier"]), "mean": r["quality_mean"], "n": r["quality_n"]}
               for r in rows if r["quality_n"]]
    frame = pd.DataFrame(records, columns=["role", "tier", "mean", "n"])
    order = [t for t in (*TIERS, "(not set)") if t in set(frame["tier"])]
    means = frame.pivot_table(index="role", columns="tier", values="mean").reindex(columns=order)
    counts = frame.pivot_table(index="role", columns="tier", values="n", aggfunc="sum").reindex(columns=order)
    return means, counts


def spans_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Individual spans (GET spans or a trace) as a display table."""
    records = [{
        "Start (UTC)": time_text(r["start_time"]), "Role": label(r["role"]), "Tier": label(r["tier"]),
        "Model": label(r["model"]), "Input tokens": count_text(r["input_tokens"]),
        "Output tokens": count_text(r["output_tokens"]),
        "Cost": money_text(r["cost_usd"]) if r["priced"] else "unpriced",
        "Quality": quality_text(r["quality"]), "Duration (ms)": count_text(r["duration_ms"]),
        "Team": label(r["team"]), "Service": label(r["service"]), "Trace": r["trace_id"],
    } for r in rows]
    return pd.DataFrame(records)


def misrouted_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """GET misrouted rows, ranked by saving, as a display table."""
    records = []
    for r in rows:
        interval = (f"[{r['quality_low']:.3f}, {r['quality_high']:.3f}]" if r["quality_low"] is not None else "—")
        target = f"{r['target_tier']} · {r['target_model']}" if r["target_model"] else f"{r['target_tier']} · (no priced model)"
        records.append({
            "Saving": money_text(r["saving_usd"]), "Role": label(r["role"]), "Now": f"{r['tier']} · {r['model']}",
            "Move to": target, "Calls": count_text(r["calls"]), "Quality n": count_text(r["quality_n"]),
            "Quality": quality_text(r["quality_mean"]), "Interval": interval, "Floor": f"{r['quality_floor']:.2f}",
            "Cost now": money_text(r["cost_usd"]), "Cost there": money_text(r["target_cost_usd"]),
            "Finding": r["kind"], "Why": r["reason"],
        })
    return pd.DataFrame(records)


def evidence_frame(evidence: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{
        "Role": label(e["role"]), "Tier": e["tier"], "Model": label(e["model"]), "n": e["quality_n"],
        "Mean": round(e["quality_mean"], 3), "Interval": f"[{e['quality_low']:.3f}, {e['quality_high']:.3f}]",
        "Floor": e["quality_floor"], "Meets floor": "yes" if e["meets_floor"] else "no",
    } for e in evidence])


def auto_bucket(since: str, until: str, first_span: str | None, last_span: str | None) -> str:
    """Hour buckets for up to three days of data, days up to four months, weeks beyond."""
    if not first_span or not last_span:
        return "day"
    start = max(datetime.fromisoformat(since), datetime.fromisoformat(first_span)) if since else datetime.fromisoformat(first_span)
    end = min(datetime.fromisoformat(until), datetime.fromisoformat(last_span)) if until else datetime.fromisoformat(last_span)
    days = (end - start).total_seconds() / 86400
    return "hour" if days <= 3 else "day" if days <= 120 else "week"
