"""Issue 7: `tierscope export` writes a month's spans and month-close table for BI, with exact money.

Spans on both sides of the month's edges go into a real collector over OTLP/HTTP; the export (through
the read API, and again from the store directly) must hold exactly the month's spans, and its costs
must add up to genai-prices' calc_price to the last decimal, in Parquet and in CSV.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from genai_prices import Usage, calc_price

from support import http_exporter, running_collector, sdk_provider, settle_rollup
from tierscope import clock
from tierscope.cli.export import export as export_command
from tierscope.collector.interop.export import MONEY

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
MODELS = [("gpt-4o", "openai"), ("claude-sonnet-4-5", "anthropic"), ("o3", "openai"), ("acme-ft-7b", "openai")]


def _specs() -> list[dict]:
    specs = []
    edges = [NOVEMBER - timedelta(microseconds=1), NOVEMBER, NOVEMBER + timedelta(days=30) - timedelta(microseconds=1),
             NOVEMBER + timedelta(days=30)]  # Oct 31 23:59:59.999999, Nov 1 00:00, Nov 30 23:59:59.999999, Dec 1
    for i in range(60):
        start = edges[i] if i < len(edges) else NOVEMBER + timedelta(hours=11 * i, microseconds=137 * i)
        model, provider = MODELS[i % len(MODELS)]
        specs.append({"start": start, "model": model, "provider": provider, "role": ("planner", "worker")[i % 2],
                      "team": ("search", "support")[i % 3 == 0], "input": 1000 + 17 * i, "output": 90 + i,
                      "cache_read": 400 if provider == "openai" else 300, "cache_write": 0 if provider == "openai" else 50})
    return specs


def _in_november(spec: dict) -> bool:
    return NOVEMBER <= spec["start"] < NOVEMBER + timedelta(days=30)


def _cost(spec: dict) -> Decimal | None:
    if spec["model"] == "acme-ft-7b":
        return None
    usage = Usage(input_tokens=spec["input"], output_tokens=spec["output"], cache_read_tokens=spec["cache_read"],
                  cache_write_tokens=spec["cache_write"])
    return calc_price(usage, model_ref=spec["model"], provider_id=spec["provider"],
                      genai_request_timestamp=spec["start"]).total_price


def _send(collector, specs) -> None:
    provider = sdk_provider(http_exporter(collector), service="bi")
    tracer = provider.get_tracer("export-test")
    for s in specs:
        start = int(s["start"].timestamp()) * 10**9 + s["start"].microsecond * 1000
        tracer.start_span(f"chat {s['model']}", start_time=start, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": s["provider"], "gen_ai.request.model": s["model"],
            "gen_ai.usage.input_tokens": s["input"], "gen_ai.usage.output_tokens": s["output"],
            "gen_ai.usage.cache_read.input_tokens": s["cache_read"],
            "gen_ai.usage.cache_creation.input_tokens": s["cache_write"], "tierscope.role": s["role"],
            "tierscope.team": s["team"]}).end(end_time=start + 2_500_000)
    assert provider.force_flush(30_000)
    provider.shutdown()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """The month exported through the API (parquet, csv), then from the stopped collector's store."""
    specs = _specs()
    base = tmp_path_factory.mktemp("export")
    runner = CliRunner()
    out = {"specs": specs}
    pin = pytest.MonkeyPatch()
    pin.setenv(clock.ENV, "2026-11-20T12:00:00Z")  # exported through the API while November is open
    with running_collector(base / "store", rollup_interval_s=0, alert_interval_s=0) as collector:
        _send(collector, specs)
        settle_rollup(collector.collector.store)  # a closed month, as the refresher leaves it
        for fmt in ("parquet", "csv"):
            result = runner.invoke(export_command, ["--month", "2026-11", "--format", fmt, "--out",
                                                    str(base / fmt), "--api", collector.url])
            assert result.exit_code == 0, result.output
            out[fmt] = base / fmt
    pin.setenv(clock.ENV, "2026-12-01T00:00:00Z")  # and from the store once it has closed
    result = runner.invoke(export_command, ["--month", "2026-11", "--out", str(base / "direct"), "--store",
                                            f"chdb:{base / 'store'}"])
    pin.undo()
    assert result.exit_code == 0, result.output
    out["direct"] = base / "direct"
    return out


def test_parquet_holds_exactly_the_months_spans_with_exact_decimal_costs(exported):
    november = [s for s in exported["specs"] if _in_november(s)]
    spans = pq.read_table(exported["parquet"] / "tierscope-spans-2026-11.parquet")
    assert spans.num_rows == len(november) == 58
    assert spans.schema.field("cost_usd").type == MONEY
    assert spans.schema.field("start_time").type == pa.timestamp("us", tz="UTC")
    costs = [c for c in spans.column("cost_usd").to_pylist() if c is not None]
    expected = [c for c in map(_cost, november) if c is not None]
    assert sum(costs) == sum(expected)
    assert sorted(costs) == sorted(expected)
    unpriced = sum(1 for s in november if _cost(s) is None)
    assert spans.column("priced").to_pylist().count(False) == spans.column("cost_usd").null_count == unpriced == 14
    assert sum(spans.column("input_tokens").to_pylist()) == sum(s["input"] for s in november)
    starts = spans.column("start_time").to_pylist()
    assert min(starts) == NOVEMBER and max(starts) == NOVEMBER + timedelta(days=30) - timedelta(microseconds=1)

    monthly = pq.read_table(exported["parquet"] / "tierscope-monthly-2026-11.parquet").to_pylist()
    assert sum(r["cost_usd"] for r in monthly) == sum(expected)
    assert sum(r["spans"] for r in monthly) == 58
    assert {(r["team"], r["role"]) for r in monthly} == {(s["team"], s["role"]) for s in november}
    assert {r["month"] for r in monthly} == {"2026-11"}
    october = [s for s in exported["specs"] if s["start"] < NOVEMBER]
    assert sum(r["previous_cost_usd"] for r in monthly) == sum(map(_cost, october))  # Oct 31 23:59:59.999999


def test_spans_carry_the_cache_saving_priced_at_ingest_and_the_deadline(exported):
    """The prompt-cache saving: cache-read tokens billed as plain input, minus what the call cost."""
    spans = pq.read_table(exported["parquet"] / "tierscope-spans-2026-11.parquet").to_pylist()
    by_start = {(s["start"].replace(microsecond=0), s["input"]): s for s in exported["specs"] if _in_november(s)}
    checked = 0
    for row in spans:
        spec = by_start[row["start_time"].replace(microsecond=0), row["input_tokens"]]
        assert row["deadline"] == ""
        if _cost(spec) is None:
            assert row["cache_saving_usd"] is None
            continue
        uncached = _cost({**spec, "cache_read": 0})
        assert row["cache_saving_usd"] == uncached - _cost(spec) > 0, spec
        checked += 1
    assert checked == 44
    assert pq.read_table(exported["parquet"] / "tierscope-spans-2026-11.parquet").schema.field("batch_saving_usd").type == MONEY


def test_csv_money_is_exact_decimal_strings_and_matches_parquet(exported):
    with (exported["csv"] / "tierscope-spans-2026-11.csv").open() as f:
        rows = list(csv.DictReader(f))
    with (exported["csv"] / "tierscope-monthly-2026-11.csv").open() as f:
        monthly = list(csv.DictReader(f))
    parquet = pq.read_table(exported["parquet"] / "tierscope-spans-2026-11.parquet").to_pylist()
    assert len(rows) == len(parquet) == 58
    assert all("e" not in r["cost_usd"].lower() for r in rows)
    assert sorted(Decimal(r["cost_usd"]) for r in rows if r["cost_usd"]) == \
        sorted(r["cost_usd"] for r in parquet if r["cost_usd"] is not None)
    assert sum(Decimal(r["cost_usd"]) for r in monthly) == sum(Decimal(r["cost_usd"]) for r in rows if r["cost_usd"])
    assert {r["priced"] for r in rows} == {"true", "false"}
    assert [r for r in rows if not r["cost_usd"]] == [r for r in rows if r["priced"] == "false"]


def test_schema_note_describes_every_column_and_the_totals(exported):
    assert json.loads((exported["direct"] / "schema.json").read_text())["totals"]["complete"] is True
    for fmt, money in (("parquet", "decimal128(38, 18)"), ("csv", "decimal string")):
        note = json.loads((exported[fmt] / "schema.json").read_text())
        assert note["month"] == "2026-11" and note["format"] == fmt
        assert note["totals"]["spans"] == note["totals"]["monthly_spans"] == 58
        assert note["totals"]["cost_usd"] == note["totals"]["monthly_cost_usd"]
        assert note["totals"]["complete"] is False  # exported on 20 November
        files = {"spans": f"tierscope-spans-2026-11.{fmt}", "monthly": f"tierscope-monthly-2026-11.{fmt}"}
        assert note["files"] == files
        header = (pq.read_schema(exported[fmt] / files["spans"]).names if fmt == "parquet"
                  else (exported[fmt] / files["spans"]).read_text().splitlines()[0].split(","))
        assert [c["name"] for c in note["tables"]["spans"]] == header
        cost = next(c for c in note["tables"]["spans"] if c["name"] == "cost_usd")
        assert cost["type"] == money and cost["unit"] == "US dollars"
        assert "cost_usd" in (exported[fmt] / "README.md").read_text()


def test_direct_store_export_equals_the_api_export(exported):
    for name in ("tierscope-spans-2026-11.parquet", "tierscope-monthly-2026-11.parquet"):
        assert pq.read_table(exported["direct"] / name).equals(pq.read_table(exported["parquet"] / name))


def test_bad_month_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(export_command, ["--month", "2026-13", "--store", f"chdb:{tmp_path / 's'}",
                                                 "--out", str(tmp_path)])
    assert result.exit_code == 1 and "month must look like 2026-11" in result.output
