"""The dashboard's pages under Streamlit's AppTest, against a real collector with sample data; and
the pure transforms behind them (formatting, month-close lines, exports)."""

from __future__ import annotations

import base64
import csv
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from tierscope import clock
from tierscope.client import ApiClient
from tierscope.collector.server.background import BackgroundCollector
from tierscope.dashboard.filters import CUSTOM, time_range
from tierscope.dashboard.month_frames import month_csv, month_lines, month_options, month_parquet
from sample_data import SAMPLE_POLICY, sample_traces, send
from support import running_collector, settle_rollup
from tierscope.dashboard.transforms import auto_bucket, money_text, regroup, spend_text

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[BackgroundCollector]:
    home = tmp_path_factory.mktemp("dashboard")
    (home / "routing-policy.yaml").write_text(SAMPLE_POLICY)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERSCOPE_POLICY_FILE", str(home / "routing-policy.yaml"))
        env.setenv(clock.ENV, NOW.isoformat())  # the sample data's last day: November is the open month
        with running_collector(home / "store", grpc_port=0, rollup_interval_s=0, alert_interval_s=0) as running:
            send(running.url, sample_traces(np.random.default_rng(7), 80))
            settle_rollup(running.collector.store)  # as the refresher leaves it once it has caught up
            env.setenv("TIERSCOPE_API", running.url)
            yield running


def open_app(page: str | None = None, time_range_choice: str = "All time") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.selectbox(key="f_range").set_value(time_range_choice).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def plotly_values(values: list | dict) -> list:
    """A trace's x or y as a list: plotly sends numeric arrays base64-encoded ({"dtype", "bdata"})."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return values


# --- pages ----------------------------------------------------------------------------------------

def test_spend_page_shows_the_api_numbers(collector, api):
    at = open_app()
    spend = api.get("spend", by="role,tier,model")
    shown = metrics(at)
    assert at.title[0].value == "Spend"
    assert shown["Spend"] == money_text(spend["total"]["cost_usd"])
    assert shown["Calls"] == f"{spend['total']['spans']:,}"
    assert shown["Unpriced calls"] == f"{spend['total']['unpriced_spans']:,}" != "0"
    assert "in-house-llm" in at.warning[0].value  # unpriced spend is named, never hidden
    table = at.dataframe[0].value
    assert len(table) == len(spend["rows"])
    assert list(table["Spend"]) == [spend_text(r) for r in spend["rows"]]
    assert len(at.get("plotly_chart")) == 3  # over time, top roles, top models

    for metric in ("Calls", "Tokens", "Quality"):
        at.segmented_control(key="spend_metric").set_value(metric).run()
        assert not at.exception
    at.segmented_control(key="spend_split").set_value("model").run()
    assert not at.exception


@pytest.mark.parametrize("dims", [["model"], ["role"], ["tier"], ["role", "tier"]])
def test_regroup_equals_the_api_grouping(collector, api, dims):
    """The Spend page sums one role x tier x model answer to the other groupings it shows; each must
    equal what the API returns for that grouping: counts and money exactly, quality to float noise."""
    fine = api.get("spend", by="role,tier,model")["rows"]
    coarse = api.get("spend", by=",".join(dims))["rows"]
    mine = regroup(fine, dims)
    assert [tuple(r[d] for d in dims) for r in mine] == [tuple(r[d] for d in dims) for r in coarse]
    for got, want in zip(mine, coarse):
        assert got["cost_usd"] == Decimal(want["cost_usd"])
        for key in ("spans", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                    "reasoning_tokens", "unpriced_spans", "unpriced_tokens", "quality_n"):
            assert got[key] == want[key], key
        assert (got["quality_mean"] is None) == (want["quality_mean"] is None)
        if want["quality_mean"] is not None:
            assert got["quality_mean"] == pytest.approx(want["quality_mean"], abs=1e-12)


def test_spend_drill_down_to_spans_and_trace(collector, api):
    at = open_app()
    rows = api.get("spend", by="role,tier,model")["rows"]
    index = next(i for i, r in enumerate(rows) if (r["role"], r["model"]) == ("formatter", "gpt-4o"))
    at.selectbox(key="spend_drill").set_value(index).run()
    spans = at.dataframe[1].value
    assert len(spans) == rows[index]["spans"]
    assert set(spans["Model"]) == {"gpt-4o"} and set(spans["Role"]) == {"formatter"}

    trace_id = spans["Trace"].iloc[0]
    at.selectbox(key="spend_trace").set_value(trace_id).run()
    trace = api.get(f"traces/{trace_id}")
    assert any(h.value == f"Trace {trace_id}" for h in at.subheader)
    assert metrics(at)["Trace cost"] == money_text(trace["cost_usd"])
    calls = at.dataframe[2].value
    assert list(calls["Role"]) == [s["role"] for s in trace["spans"]]  # in order: planner first
    assert calls["Role"].iloc[0] == "planner"


def test_sidebar_filters_narrow_every_number(collector, api):
    at = open_app()
    at.multiselect(key="f_team").set_value(["growth"]).run()
    assert metrics(at)["Spend"] == money_text(api.get("spend", team="growth")["total"]["cost_usd"])
    at.switch_page("page_misrouted.py").run()
    assert metrics(at)["Flagged calls"] == f"{api.get('misrouted', team='growth')['flagged_calls']:,}"


def test_month_close_page(collector, api):
    at = open_app("page_month.py")
    at.selectbox(key="month_tz").set_value("Europe/Paris").run()
    at.selectbox(key="month_pick").set_value("2026-10").run()
    close = api.get("month", month="2026-10", tz="Europe/Paris")
    shown = metrics(at)
    assert shown["Total"] == money_text(close["total"]["cost_usd"])
    assert shown["vs previous month"] == money_text(close["total"]["change_usd"])
    assert shown["Closed at"] == money_text(close["forecast_usd"])  # October is over: no run-rate
    assert shown["Share unpriced"] == f"{close['share_unpriced']:.1%}"
    table = at.dataframe[0].value
    assert len(table) == len(close["rows"]) + len(close["subtotals"]) + 1
    assert table.iloc[-1]["Team"] == "Grand total" and table.iloc[-1]["Spend"] == shown["Total"]
    assert sum(1 for t in table["Team"] if t.endswith("subtotal")) == len(close["subtotals"])
    assert {b.label for b in at.get("download_button")} == {"Download CSV", "Download Parquet"}

    at.selectbox(key="month_pick").set_value("2026-11").run()  # the current month: a run-rate forecast
    assert "Run-rate forecast" in metrics(at)


def test_misrouted_page(collector, api):
    at = open_app("page_misrouted.py")
    result = api.get("misrouted")
    shown = metrics(at)
    assert shown["Potential saving"] == money_text(result["total_saving_usd"])
    assert shown["Routing policy"] == "v7"
    table = at.dataframe[0].value
    assert list(table["Saving"]) == [money_text(r["saving_usd"]) for r in result["rows"]]
    assert set(table["Role"]) == {"router", "formatter"}  # critic is pinned; router breaks the policy
    assert "critic" in at.caption[1].value

    at.selectbox(key="misrouted_drill").set_value(0).run()
    spans = at.dataframe[1].value
    top = result["rows"][0]
    assert len(spans) == top["calls"] and set(spans["Model"]) == {top["model"]}

    at.segmented_control(key="misrouted_confidence").set_value(0.99).run()
    strict = api.get("misrouted", confidence="0.99")
    assert metrics(at)["Potential saving"] == money_text(strict["total_saving_usd"])


def test_quality_page(collector, api):
    at = open_app("page_quality.py")
    by_tier = api.get("spend", by="role,tier")
    assert metrics(at)["Graded calls"] == f"{by_tier['total']['quality_n']:,}"
    assert metrics(at)["Mean quality"] == f"{by_tier['total']['quality_mean']:.3f}"
    assert len(at.get("plotly_chart")) == 2

    # "All roles": one line per role, each point the role's mean over its tiers, as the API's one-way split.
    filters = api.get("filters")
    bucket = auto_bucket("", "", filters["first_span"], filters["last_span"])
    by_role = api.get("spend/timeseries", bucket=bucket, split="role")["rows"]
    want = {(r["series"], datetime.fromisoformat(r["bucket"]).replace(tzinfo=None)): r["quality_mean"]
            for r in by_role if r["quality_n"]}
    spec = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert spec["layout"]["title"]["text"] == "Quality by role"
    got = {(trace["name"], datetime.fromisoformat(x).replace(tzinfo=None)): y
           for trace in spec["data"] for x, y in zip(plotly_values(trace["x"]), plotly_values(trace["y"]))}
    assert got.keys() == want.keys()
    assert all(got[k] == pytest.approx(want[k], abs=1e-12) for k in want)
    at.selectbox(key="quality_view").set_value("planner").run()
    spec = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert spec["layout"]["title"]["text"] == "Quality by tier" and {t["name"] for t in spec["data"]} <= {
        "frontier", "mid", "small", "local"}


def test_narrow_range_shows_what_to_do(collector):
    at = open_app(time_range_choice="Last 24 hours")  # the sample data ends on 20 November
    assert "Widen the time range" in at.info[0].value


def test_empty_collector_says_how_to_send_spans(tmp_path, monkeypatch):
    # chdb admits one embedded store per process, so the empty collector runs in a process of its own.
    port = _free_port()
    serve = ("import asyncio, sys; from tierscope.collector.server.background import serve; from tierscope.settings import Settings; "
             "asyncio.run(serve(Settings(store=sys.argv[1], http_port=int(sys.argv[2]), grpc_port=0, prices_file='')))")
    process = subprocess.Popen([sys.executable, "-c", serve, f"chdb:{tmp_path / 'store'}", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        client = ApiClient(url)
        deadline = time.monotonic() + 60
        while not client.healthy():
            assert time.monotonic() < deadline and process.poll() is None, "the empty collector did not start"
            time.sleep(0.2)
        monkeypatch.setenv("TIERSCOPE_API", url)
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        assert not at.exception
        assert "No spans yet" in at.info[0].value and f"OTEL_EXPORTER_OTLP_ENDPOINT={url}" in at.info[0].value
    finally:
        process.terminate()
        process.wait(30)


def test_unreachable_collector_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TIERSCOPE_API", f"http://127.0.0.1:{_free_port()}")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert "is unreachable" in at.error[0].value and "tierscope serve" in at.error[0].value


def test_dashboard_password(collector, api, monkeypatch):
    monkeypatch.setenv("TIERSCOPE_DASHBOARD_PASSWORD", "s3cret")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.metric and at.text_input(key="login_password")
    at.text_input(key="login_password").set_value("guess")
    at.button[0].click().run()
    assert at.error[0].value == "Wrong password." and not at.metric
    at.text_input(key="login_password").set_value("s3cret")
    at.button[0].click().run()
    assert not at.exception and at.title[0].value == "Spend" and "Spend" in metrics(at)


# --- pure transforms -----------------------------------------------------------------------------

@pytest.mark.parametrize("value,text", [
    ("1234.5", "$1,234.50"), ("0", "$0.00"), ("0.01", "$0.01"), ("0.005", "$0.005"), ("0.0045", "$0.0045"),
    ("0.00027", "$0.00027"), ("0.000123456", "$0.00012"), ("-2.345", "-$2.35"), ("1000000", "$1,000,000.00"),
    (None, "—"),
])
def test_money_text(value, text):
    assert money_text(value) == text


def test_all_unpriced_group_says_so():
    assert spend_text({"spans": 3, "unpriced_spans": 3, "cost_usd": "0"}) == "unpriced"
    assert spend_text({"spans": 3, "unpriced_spans": 1, "cost_usd": "0.5"}) == "$0.50"


def test_month_lines_and_exports_are_exact(collector, api):
    close = api.get("month", month="2026-10")
    lines = month_lines(close)
    details = [x for x in lines if x["row_type"] == "detail"]
    total = lines[-1]
    assert total["row_type"] == "total" and total["cost_usd"] == Decimal(close["total"]["cost_usd"])
    assert sum(x["cost_usd"] for x in details) == total["cost_usd"]
    assert sum(x["cost_usd"] for x in lines if x["row_type"] == "subtotal") == total["cost_usd"]

    rows = list(csv.DictReader(io.StringIO(month_csv(lines, "2026-10", "UTC").decode())))
    assert sum(Decimal(r["cost_usd"]) for r in rows if r["row_type"] == "detail") == Decimal(rows[-1]["cost_usd"])
    assert rows[-1]["cost_usd"] == close["total"]["cost_usd"]  # the API's exact decimal string

    table = pq.read_table(io.BytesIO(month_parquet(lines, "2026-10", "UTC")))
    assert table.schema.field("cost_usd").type == pa.decimal128(38, 18)
    assert table["cost_usd"].to_pylist()[-1] == Decimal(close["total"]["cost_usd"])


def test_month_options_and_ranges():
    now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert month_options("2026-08-31T23:30:00+00:00", "2026-11-20T00:00:00+00:00", "UTC", now) == \
        ["2026-11", "2026-10", "2026-09", "2026-08"]
    assert month_options("2026-08-31T23:30:00+00:00", None, "Europe/Paris", now)[-1] == "2026-09"
    assert time_range("Last 24 hours", now=now) == ("2026-11-22T09:00:00+00:00", "")
    assert time_range("All time", now=now) == ("", "")
    assert time_range(CUSTOM, (date(2026, 10, 1), date(2026, 10, 31))) == \
        ("2026-10-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00")
    assert auto_bucket("", "", "2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00") == "hour"
    assert auto_bucket("", "", "2026-09-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00") == "day"
    assert auto_bucket("", "", "2025-09-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00") == "week"
