"""`tierscope reconcile` against a real collector: tierscope's side of the month by provider and model
comes through the read API; the invoice side from the CSV, OpenAI and Anthropic samples in
tests/data. Exact rows, untracked and unbilled spend, the coverage; one clear error for a bad file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger import Span, insert
from support import running_collector
from tierscope.cli import main
from tierscope.collector.server.background import BackgroundCollector

DATA = Path(__file__).resolve().parents[1] / "data"
SPANS = [Span("2026-10-01T10:00", "10.5"), Span("2026-10-15T10:00", "4"), Span("2026-10-16T10:00", None),
         Span("2026-10-31T23:30", "0.00027", model="gpt-4o-mini"),  # November in Paris
         Span("2026-10-02T10:00", "39.9", model="gpt-4o-2024-08-06"),
         Span("2026-10-03T10:00", "37.5", model="claude-sonnet-4-5", provider="anthropic"),
         Span("2026-10-04T10:00", "3", model="claude-3-5-haiku-latest", provider="anthropic"),
         Span("2026-11-01T10:00", "100")]


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[BackgroundCollector]:
    with running_collector(tmp_path_factory.mktemp("reconcile") / "store", alert_interval_s=0) as running:
        insert(running.collector.store, SPANS)
        yield running


def run(collector: BackgroundCollector, *args: str) -> str:
    result = CliRunner().invoke(main, ["reconcile", "--month", "2026-10", *args, "--api", collector.url])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_csv_invoice_reconciles_exactly(collector):
    body = json.loads(run(collector, "--invoice", str(DATA / "invoice_2026-10.csv"), "--format", "json"))
    rows = {(r["provider"], r["model"]): r for r in body["rows"]}
    assert rows[("openai", "gpt-4o")] == {"provider": "openai", "model": "gpt-4o", "invoice_usd": "14.75",
                                          "tierscope_usd": "14.5", "difference_usd": "0.25", "unpriced_spans": 1}
    assert rows[("openai", "gpt-4o-mini")]["difference_usd"] == "0"
    assert rows[("anthropic", "claude-3-opus")]["tierscope_usd"] == "0"  # untracked spend
    assert rows[("openai", "gpt-4o-2024-08-06")]["invoice_usd"] == "0"  # measured, not on this bill
    assert body["total"] == {"invoice_usd": "16.75027", "tierscope_usd": "94.90027", "difference_usd": "-78.15",
                             "coverage": "5.665596"}
    paris = json.loads(run(collector, "--invoice", str(DATA / "invoice_2026-10.csv"), "--tz", "Europe/Paris",
                           "--format", "json"))
    assert {r["model"]: r["tierscope_usd"] for r in paris["rows"]}["gpt-4o-mini"] == "0"  # 31 Oct 23:30 UTC


def test_the_provider_samples_reconcile_together(collector):
    out = run(collector, "--invoice", str(DATA / "openai_costs_2026-10.json"),
              "--invoice", str(DATA / "anthropic_cost_report_2026-10.json"), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    got = {(r["provider"], r["model"]): (r["invoice_usd"], r["tierscope_usd"], r["difference_usd"]) for r in rows}
    assert got[("openai", "gpt-4o-2024-08-06")] == ("39.9706789", "39.9", "0.0706789")  # snapshot = measured name
    assert got[("anthropic", "claude-sonnet-4-5-20250929")] == ("37.648178", "37.5", "0.148178")  # alias matched
    assert got[("anthropic", "claude-3-5-haiku-latest")] == ("0", "3", "-3")
    assert got[("openai", "gpt-4o")] == ("0", "14.5", "-14.5")
    assert rows[-1]["provider"] == "TOTAL" and rows[-1]["difference_usd"] == "-13.9939131"
    table = CliRunner().invoke(main, ["reconcile", "--month", "2026-10", "--invoice", str(DATA / "invoice_2026-10.csv"),
                                      "--api", collector.url])
    assert "difference $-78.15, coverage 566.6%" in table.output


def test_a_malformed_invoice_is_one_clear_error(collector, tmp_path):
    bad = tmp_path / "bill.csv"
    bad.write_text("date,provider,model,amount_usd\n2026-10-01,openai,gpt-4o,1O.5\n")
    result = CliRunner().invoke(main, ["reconcile", "--month", "2026-10", "--invoice", str(bad), "--api", collector.url])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: bill.csv line 2: amount_usd '1O.5' is not a decimal number"
