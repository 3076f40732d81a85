"""Invoice parsing (OpenAI Costs API, Anthropic cost report, CSV) and the reconciliation's matching,
pure: exact decimal dollars, snapshot names matched to aliases, ambiguity reported, one clear error
naming the line or field for a malformed file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tierscope.collector.interop.invoices import InvoiceError, parse_invoice
from tierscope.collector.interop.reconcile import base_name, reconcile

DATA = Path(__file__).resolve().parents[1] / "data"


def lines_of(name: str) -> list:
    return parse_invoice(name, (DATA / name).read_bytes())


def measured(*rows: tuple[str, str, str, int]) -> list[dict]:
    return [{"provider": p, "model": m, "cost_usd": c, "unpriced_spans": u} for p, m, c, u in rows]


def row(provider: str, model: str, invoice: str, ours: str, difference: str, unpriced: int) -> dict:
    return {"provider": provider, "model": model, "invoice_usd": invoice, "tierscope_usd": ours,
            "difference_usd": difference, "unpriced_spans": unpriced}


def test_snapshot_names_reduce_to_their_alias():
    assert [base_name(m) for m in ("gpt-4o-2024-08-06", "claude-sonnet-4-5-20250929", "claude-3-5-haiku-latest",
                                   "GPT-4o", "o3-mini")] == ["gpt-4o", "claude-sonnet-4-5", "claude-3-5-haiku",
                                                             "gpt-4o", "o3-mini"]


def test_the_openai_costs_export_reconciles():
    body = reconcile("2026-10", "UTC", lines_of("openai_costs_2026-10.json"),
                     measured(("openai", "gpt-4o", "39.9", 0), ("openai", "gpt-4o-mini-2024-07-18", "1.2375", 2),
                              ("openai", "o3-mini", "0.5", 0)))
    assert body["rows"] == [
        row("openai", "o3-mini", "0", "0.5", "-0.5", 0),
        row("openai", "web search tool calls", "0.25", "0", "0.25", 0),
        row("openai", "gpt-4o-2024-08-06", "39.9706789", "39.9", "0.0706789", 0),
        row("openai", "gpt-4o-mini-2024-07-18", "1.2375", "1.2375", "0", 2),
    ]  # the 30 September bucket is left out
    assert body["total"] == {"invoice_usd": "41.4581789", "tierscope_usd": "41.6375", "difference_usd": "-0.1793211",
                             "coverage": "1.004325"}
    assert body["matches"] == [{"provider": "openai", "invoice_model": "gpt-4o-2024-08-06", "tierscope_model": "gpt-4o"}]
    assert body["ambiguous"] == []


def test_the_anthropic_cost_report_reconciles_in_dollars_not_cents():
    body = reconcile("2026-10", "UTC", lines_of("anthropic_cost_report_2026-10.json"),
                     measured(("anthropic", "claude-sonnet-4-5", "37.5", 0)))
    rows = {r["model"]: (r["invoice_usd"], r["tierscope_usd"], r["difference_usd"]) for r in body["rows"]}
    assert rows == {"claude-sonnet-4-5-20250929": ("37.648178", "37.5", "0.148178"),  # (1234.5678+2500+30.25) cents
                    "claude-haiku-4-5-20251001": ("0.8", "0", "0.8"), "Web Search": ("1", "0", "1")}
    assert [r["model"] for r in body["rows"]][0] == "Web Search"  # largest difference first
    assert body["total"]["coverage"] == "0.950614"


def test_a_csv_invoice_gives_matched_untracked_and_unbilled_rows_and_the_coverage():
    body = reconcile("2026-10", "UTC", lines_of("invoice_2026-10.csv"),
                     measured(("openai", "gpt-4o", "14.75", 0), ("openai", "gpt-4o-mini", "0.00027", 1),
                              ("anthropic", "claude-sonnet-4-5", "3", 4)))
    assert body["rows"] == [
        row("anthropic", "claude-sonnet-4-5", "0", "3", "-3", 4),
        row("anthropic", "claude-3-opus", "2", "0", "2", 0),
        row("openai", "gpt-4o", "14.75", "14.75", "0", 0),
        row("openai", "gpt-4o-mini", "0.00027", "0.00027", "0", 1),
    ]
    assert body["total"] == {"invoice_usd": "16.75027", "tierscope_usd": "17.75027", "difference_usd": "-1",
                             "coverage": "1.059701"}


def test_an_alias_against_several_snapshots_is_reported_not_guessed(tmp_path):
    csv = b"date,provider,model,amount_usd\n2026-10-01,openai,gpt-4o-2024-08-06,5\n2026-10-02,openai,gpt-4o-2024-11-20,7\n"
    body = reconcile("2026-10", "UTC", parse_invoice("bill.csv", csv), measured(("openai", "gpt-4o", "11", 0)))
    assert body["ambiguous"] == [{"provider": "openai", "base": "gpt-4o",
                                  "invoice_models": ["gpt-4o-2024-08-06", "gpt-4o-2024-11-20"],
                                  "tierscope_models": ["gpt-4o"]}]
    assert {(r["model"], r["invoice_usd"], r["tierscope_usd"]) for r in body["rows"]} == {
        ("gpt-4o-2024-08-06", "5", "0"), ("gpt-4o-2024-11-20", "7", "0"), ("gpt-4o", "0", "11")}
    assert body["total"]["difference_usd"] == "1"


def test_invoice_dates_are_days_in_the_chosen_zone():
    csv = b"date,provider,model,amount_usd\n2026-10-31,openai,gpt-4o,1\n2026-11-01,openai,gpt-4o,2\n"
    body = reconcile("2026-10", "America/Los_Angeles", parse_invoice("bill.csv", csv), [])
    assert body["total"] == {"invoice_usd": "1", "tierscope_usd": "0", "difference_usd": "1", "coverage": "0"}
    assert reconcile("2026-10", "UTC", [], [])["total"]["coverage"] is None


@pytest.mark.parametrize(("name", "data", "error"), [
    ("bill.csv", b"day,provider,model,usd\n", "bill.csv line 1: the header must be date,provider,model,amount_usd"),
    ("bill.csv", b"date,provider,model,amount_usd\n2026-10-01,openai,gpt-4o,1\n2026-10-02,openai,gpt-4o,ten\n",
     "bill.csv line 3: amount_usd 'ten' is not a decimal number"),
    ("bill.csv", b"date,provider,model,amount_usd\n2026-13-01,openai,gpt-4o,1\n", "bill.csv line 2: date '2026-13-01'"),
    ("bill.csv", b"date,provider,model,amount_usd\n2026-10-01,openai,1\n", "bill.csv line 2: expected 4 fields"),
    ("o.json", b'{"data": [{"start_time": 1790812800, "results": [{"amount": {"value": "1"}, "line_item": "x"}]}]}',
     r"o.json: data\[0\].results\[0\].amount value has the wrong type \(str\)"),
    ("o.json", b'{"data": [{"start_time": 1790812800, "results": [{"amount": {"value": 1}, "line_item": null}]}]}',
     r"data\[0\].results\[0\].line_item is empty: export with group_by=line_item"),
    ("a.json", b'{"data": [{"starting_at": "2026-10-01T00:00:00Z", "results": [{"amount": "1x", "model": "m"}]}]}',
     r"a.json: data\[0\].results\[0\].amount '1x' is not a decimal number"),
    ("a.json", b'{"data": [{"starting_at": "2026-10-01T00:00:00Z", "results": [{"amount": "1", "currency": "EUR", '
               b'"model": "m"}]}]}', "only USD is reconciled"),
    ("x.json", b'{"data": [{"when": 1}]}', "x.json: data\\[0\\] has neither start_time"),
    ("x.json", b'{"data": [\n{"start_time": 1,}\n]}', "x.json: not JSON \\(line 2, column"),
    ("x.json", b'{"rows": []}', "x.json: data is missing"),
])
def test_a_malformed_file_is_one_error_naming_the_line_or_field(name, data, error):
    with pytest.raises(InvoiceError, match=error):
        parse_invoice(name, data)
