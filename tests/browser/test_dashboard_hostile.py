"""Issue 5, item 8 through the dashboard: hostile role, team and model names (SQL, `{x:String}`
placeholders, newlines, 10 kB, HTML and Streamlit Markdown) sent over OTLP to a real collector,
then every page rendered. Pages must not fail, names must show exactly as typed (in tables and
charts) or as code spans (in Markdown text), never interpreted; the store must be intact after.

AppTest checks each page's logic and what it hands Streamlit; the browser test checks what
chromium actually draws from it (Streamlit's Markdown and plotly's label HTML).
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from streamlit.testing.v1 import AppTest

from support import free_port, running_dashboard
from tierscope.client import ApiClient
from tierscope.collector.ingest.normalize import MAX_DIMENSION_CHARS
from tierscope.collector.server.background import BackgroundCollector
from tierscope.dashboard.transforms import md_code, money_text
from tierscope.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
HOSTILE = [
    "'; DROP TABLE llm_spans; --",
    "{x:String}",
    "line\nbreak\ttab",
    "r" * 10_000,
    "<script>alert(1)</script>",
    "**bold** _it_ `tick` ~~s~~",
    "$x^2$ :red[red] :smile: :material/home:",
    "[link](http://evil.example) <b>b</b> &amp;",
    "# heading\n- item\n\n> quote",
]
NAMES = [h[:MAX_DIMENSION_CHARS] for h in HOSTILE]  # as stored: the collector cuts names at 1,024 characters
FRONTIER, SMALL = 6, 30  # calls per hostile role: a few frontier, many cheaper and well graded


def _calls() -> list[dict]:
    """Per hostile name: frontier and small calls with that role and team, and one call of a model
    by that name (unknown, so unpriced: it is listed by name in the Spend page's warning)."""
    calls = []
    for h in HOSTILE:
        for i in range(FRONTIER):
            calls.append({"role": h, "team": h, "model": "gpt-4o", "input": 1000 + i, "output": 100, "quality": 0.9})
        for i in range(SMALL):
            calls.append({"role": h, "team": h, "model": "gpt-4o-mini", "input": 900 + i, "output": 80,
                          "quality": 0.97})
        calls.append({"role": "planner", "team": h, "model": h, "input": 10, "output": 1, "quality": None})
    return calls


def _send(url: str, calls: list[dict]) -> None:
    """Through the real OTel SDK and OTLP/HTTP exporter, spread over the last two hours."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "hostile-agent"}))
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=10_000))
    tracer = provider.get_tracer("hostile")
    start = time.time_ns() - 2 * 3600 * 10**9
    for i, c in enumerate(calls):
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                      "gen_ai.request.model": c["model"], "gen_ai.usage.input_tokens": c["input"],
                      "gen_ai.usage.output_tokens": c["output"], "tierscope.role": c["role"],
                      "tierscope.team": c["team"]}
        if c["quality"] is not None:
            attributes["tierscope.quality.score"] = c["quality"]
        at = start + i * 10**9
        tracer.start_span("chat", start_time=at, attributes=attributes).end(end_time=at + 10**8)
    assert provider.force_flush(60_000)
    provider.shutdown()


def _expected_cost(calls: list[dict]) -> Decimal:
    return sum((calc_price(Usage(input_tokens=c["input"], output_tokens=c["output"]), model_ref=c["model"],
                           provider_id="openai").total_price for c in calls if c["model"] in ("gpt-4o", "gpt-4o-mini")),
               Decimal(0))


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[BackgroundCollector]:
    home = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERSCOPE_POLICY_FILE", str(home / "no-policy.yaml"))
        settings = Settings(store=f"chdb:{home / 'store'}", http_port=free_port(), grpc_port=0, prices_file="")
        with BackgroundCollector(settings) as running:
            _send(running.url, _calls())
            env.setenv("TIERSCOPE_API", running.url)
            yield running


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.selectbox(key="f_range").set_value("All time").run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_sources(at: AppTest) -> list[str]:
    """Everything on the page that Streamlit renders as Markdown."""
    kinds = ("title", "header", "subheader", "caption", "markdown", "info", "warning", "error", "success")
    return [e.value for kind in kinds for e in getattr(at, kind)]


def assert_names_only_as_code(sources: list[str]) -> None:
    """A hostile name may appear in Markdown only inside the code span md_code() made of it."""
    for source in sources:
        outside = source
        for h in sorted(NAMES, key=len, reverse=True):
            outside = outside.replace(md_code(h), "")
        for marker in ("DROP TABLE", "{x:String}", "line\nbreak", "r" * 100, "<script>", "**bold**", "$x^2$",
                       ":red[", "](http://evil", "# heading", "↵"):
            assert marker not in outside, (marker, source[:300])


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


# --- every page renders, names exact -------------------------------------------------------------

def test_spend_page_shows_hostile_names_as_typed(collector, api):
    at = open_app()
    table = at.dataframe[0].value
    assert set(NAMES) <= set(table["Role"])  # the table cells are the names, byte for byte
    warning = next(w.value for w in at.warning if "no known price" in w.value)
    for h in NAMES:
        assert md_code(h) in warning
    assert_names_only_as_code(markdown_sources(at))

    top_roles = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Top roles by spend")
    labels = [y for trace in top_roles["data"] for y in trace["y"]]
    assert set(NAMES) <= {html.unescape(y) for y in labels}  # escaped for plotly, so drawn as typed
    assert "<script>" not in json.dumps(top_roles) and "&lt;script&gt;alert(1)&lt;/script&gt;" in json.dumps(top_roles)

    at.multiselect(key="f_role").set_value([NAMES[0], NAMES[6]]).run()
    assert not at.exception
    expected = api.get("spend", role=[NAMES[0], NAMES[6]])["total"]
    assert {m.label: m.value for m in at.metric}["Calls"] == f"{expected['spans']:,}" == f"{2 * (FRONTIER + SMALL):,}"
    caption = at.caption[0].value
    assert md_code(NAMES[0]) in caption and md_code(NAMES[6]) in caption
    assert_names_only_as_code(markdown_sources(at))

    rows = api.get("spend", by="role,tier,model", role=[NAMES[0], NAMES[6]])["rows"]
    at.selectbox(key="spend_drill").set_value(0).run()  # drill into a hostile role's spans
    spans = at.dataframe[1].value
    assert len(spans) == rows[0]["spans"] and set(spans["Role"]) == {rows[0]["role"]}


def test_quality_page_with_hostile_roles(collector):
    at = open_app("page_quality.py")
    heatmap = next(s for s in plotly_specs(at) if s["data"][0]["type"] == "heatmap")
    roles = {html.unescape(y) for y in heatmap["data"][0]["y"]}
    assert set(NAMES) <= roles
    assert "<script>" not in json.dumps(plotly_specs(at))
    at.multiselect(key="f_role").set_value([NAMES[5], NAMES[8]]).run()
    assert not at.exception
    over_time = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Quality by role")
    lines = {html.unescape(trace["name"]) for trace in over_time["data"]}
    assert {NAMES[5], NAMES[8]} <= lines  # one line per role: the whole name, "=" and all
    at.selectbox(key="quality_view").set_value(NAMES[5]).run()
    assert not at.exception
    assert at.selectbox(key="quality_view").value == NAMES[5]
    over_time = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Quality by tier")
    assert {trace["name"] for trace in over_time["data"]} <= {"frontier", "mid", "small", "local", "(not set)"}
    assert_names_only_as_code(markdown_sources(at))


def test_month_close_page_with_hostile_teams(collector, api):
    at = open_app("page_month.py")
    table = at.dataframe[0].value
    teams = set(table["Team"])
    assert set(NAMES) <= teams and {f"{h} — subtotal" for h in NAMES} <= teams
    month = at.selectbox(key="month_pick").value
    close = api.get("month", month=month)
    assert table.iloc[-1]["Team"] == "Grand total"
    assert {m.label: m.value for m in at.metric}["Total"] == money_text(close["total"]["cost_usd"])
    assert_names_only_as_code(markdown_sources(at))


def test_misrouted_page_with_hostile_roles(collector, api):
    at = open_app("page_misrouted.py")
    result = api.get("misrouted")
    table = at.dataframe[0].value
    assert set(table["Role"]) == {r["role"] for r in result["rows"]} and set(NAMES) <= set(table["Role"])
    index = next(i for i, r in enumerate(result["rows"]) if r["role"] == NAMES[4])
    at.selectbox(key="misrouted_drill").set_value(index).run()
    assert not at.exception
    why = next(t.value for t in at.text if t.value.startswith("Why: "))
    assert why == f"Why: {result['rows'][index]['reason']}." and NAMES[4] in why  # plain text, as typed
    assert_names_only_as_code(markdown_sources(at))


@pytest.mark.parametrize("page", ["page_alerts.py", "page_policy.py"])
def test_routing_pages_render_with_hostile_names(collector, page):
    if not (ROOT / "dashboard" / page).exists():
        pytest.skip(f"{page} is not built yet")
    at = open_app(page)
    assert_names_only_as_code(markdown_sources(at))


def test_the_store_is_intact_after_the_dashboard_read_it(collector, api):
    calls = _calls()
    total = api.get("spend")["total"]
    assert total["spans"] == len(calls)
    assert Decimal(total["cost_usd"]) == _expected_cost(calls)
    assert total["unpriced_spans"] == len(NAMES)
    store = collector.collector.store
    tables = {row[0] for row in store.rows("SELECT name FROM system.tables WHERE database = currentDatabase()")}
    assert {"llm_spans", "quality_events", "schema_migrations"} <= tables
    assert store.rows("SELECT count() FROM llm_spans FINAL")[0][0] == len(calls)
    by_role = {r["role"]: r["spans"] for r in api.get("spend", by="role")["rows"]}
    assert all(by_role[h] == FRONTIER + SMALL for h in NAMES)


def test_md_code_fences_any_name():
    assert md_code("planner") == "`planner`"
    assert md_code("a`b") == "``a`b``"  # a longer fence than any backtick run inside
    assert md_code("`x ") == "`` `x  ``"  # padded: CommonMark strips one space each side
    assert md_code("a\nb\r\nc") == "`a↵b↵c`"  # a line break would end the span (and start a block)
    assert md_code(":material/home:") == "`:\u2060material/home:`"


# --- what the browser draws ------------------------------------------------------------------------

@pytest.mark.browser
def test_the_browser_draws_hostile_names_as_text(collector, tmp_path):
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip(f"{chromium} is missing: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with running_dashboard(collector.url, tmp_path / "streamlit.log") as base:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1500, "height": 1400})
            alerts: list[str] = []
            page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
            page.goto(base)
            warning = page.get_by_test_id("stAlert").filter(has_text="have no known price")
            sync_api.expect(warning).to_be_visible(timeout=60_000)
            codes = [c.replace("\u2060", "") for c in warning.locator("code").all_text_contents()]
            assert codes == [h.replace("\n", "↵") for h in _unpriced_order(collector)]
            assert warning.locator("strong").count() == 1  # ours ("N calls ... have no known price"), none from names
            for tag in ("script", "a", "em", "del", "h1", "ul", "blockquote", ".katex", "b"):
                assert warning.locator(tag).count() == 0, tag
            chart = page.get_by_test_id("stPlotlyChart").filter(has_text="Top roles by spend")
            sync_api.expect(chart).to_contain_text("<script>alert(1)</script>", timeout=60_000)
            sync_api.expect(chart).to_contain_text("[link](http://evil.example) <b>b</b> &amp;")
            assert chart.locator("a").count() == 0  # plotly would have drawn [link] as a link
            assert alerts == []  # no script ran
            page.screenshot(path=str(tmp_path / "hostile.png"))
            browser.close()


def _unpriced_order(collector) -> list[str]:
    """Hostile model names in the order the Spend page lists them (most unpriced calls first, then by name)."""
    rows = ApiClient(collector.url).get("spend", by="model")["rows"]
    found = sorted(((r["unpriced_spans"], r["model"]) for r in rows if r.get("unpriced_spans")), reverse=True)
    return [model for _, model in found]
