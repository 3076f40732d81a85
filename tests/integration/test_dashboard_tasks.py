"""The Cost per task page under Streamlit's AppTest, against the real collector of the dashboard tests
(sample agent runs, some calling an unpriced model): every figure is the API's, and the API's are
the sums of each trace's calls in the store, to the last decimal."""

from __future__ import annotations

from decimal import Decimal

from test_dashboard_apptest import collector, metrics, open_app  # noqa: F401 (the fixture)

from tierscope.dashboard.task_frames import task_cost_text
from tierscope.dashboard.transforms import money_text


def _raw(store) -> dict[str, tuple[int, Decimal]]:
    rows = store.rows("SELECT trace_id, countIf(NOT priced), sum(cost_usd) FROM llm_spans FINAL GROUP BY trace_id")
    return {t: (int(u), c or Decimal(0)) for t, u, c in rows}


def test_cost_per_task_page_shows_exact_figures_and_drills_into_a_task(collector, api):  # noqa: F811
    raw = _raw(collector.collector.store)
    priced = sorted(c for u, c in raw.values() if not u)
    n = len(priced)
    assert 0 < n < len(raw)  # the sample data has unpriced tasks too
    p50, p95 = priced[-(-50 * n // 100) - 1], priced[-(-95 * n // 100) - 1]

    at = open_app("page_tasks.py", "All time")
    assert at.title[0].value == "Cost per task"
    shown = metrics(at)
    assert shown["Tasks"] == f"{len(raw):,}"
    assert shown["Median cost per task"] == money_text(p50)
    assert shown["p95 cost per task"] == money_text(p95)
    assert shown["Unpriced tasks"] == f"{len(raw) - n:,}"
    assert any("have a call with no known price" in w.value for w in at.warning)
    total = api.get("tasks")["total"]
    assert (Decimal(total["p50_usd"]), Decimal(total["p95_usd"]), Decimal(total["total_usd"])) == (p50, p95, sum(priced))
    assert len(at.get("plotly_chart")) == 1

    buckets = at.dataframe[0].value  # every task in exactly one bucket, by its first call
    assert sum(int(v.replace(",", "")) for v in buckets["Tasks"]) == len(raw)

    top = at.dataframe[1].value
    dearest = sorted(raw.items(), key=lambda kv: (-kv[1][1], kv[0]))[:20]
    assert list(top["Task (trace)"]) == [t for t, _ in dearest]
    rows = api.get("tasks/top", limit=20)["rows"]
    assert list(top["Cost"]) == [task_cost_text(r) for r in rows]
    assert [Decimal(r["priced_cost_usd"]) for r in rows] == [c for _, (_, c) in dearest]
    for text, (_, (unpriced, cost)) in zip(top["Cost"], dearest):  # unpriced: a lower bound, never $0
        assert text == money_text(cost) if not unpriced else text.startswith(f"≥ {money_text(cost)} ({unpriced:,} unpriced")

    at.selectbox(key="tasks_drill").set_value(0).run()
    trace_id = dearest[0][0]
    assert any(h.value == f"Trace {trace_id}" for h in at.subheader)
    assert metrics(at)["Trace cost"] == money_text(dearest[0][1][1])
    assert len(at.dataframe[2].value) == rows[0]["calls"]


def test_the_sidebar_role_filter_counts_that_role_s_calls(collector, api):  # noqa: F811
    store = collector.collector.store
    rows = store.rows("SELECT trace_id, sum(cost_usd) FROM llm_spans FINAL WHERE role = 'planner' "
                      "GROUP BY trace_id")
    got = {r["trace_id"]: Decimal(r["priced_cost_usd"]) for r in api.get("tasks/top", role="planner", limit=1000)["rows"]}
    assert got == {t: c for t, c in rows}
    at = open_app("page_tasks.py", "All time")
    at.sidebar.multiselect(key="f_role").set_value(["planner"]).run()
    assert metrics(at)["Tasks"] == f"{len(rows):,}"
