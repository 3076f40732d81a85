"""Run the dashboard's Streamlit server with its imports and plotly warmed up before the first visitor.

Streamlit imports a page's modules when the first session runs it, so without this the first person
to open the dashboard waits for pandas, plotly and the first figure (plotly loads its validators
lazily, ~0.5 s): about 1.5 s on this 2-core machine before any number is fetched. The server runs
the app script in this process, so what is imported here is already in `sys.modules` then.

    python -m tierscope.dashboard.serve [streamlit run options...]
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")


def warm() -> None:
    """Import the pages' modules and build one figure of each kind the pages draw."""
    import pandas as pd

    # Not the modules that define st.cache_data loaders (data.py, ...): decorating them before the
    # server's runtime exists logs a misleading warning, and they import nothing heavy of their own.
    from tierscope.dashboard import charts, month_frames, transforms  # noqa: F401

    when = pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)
    series = pd.DataFrame({"bucket": when, "series": ["frontier", "small"], "value": [1.0, 0.5], "n": [1, 1]})
    figures = [charts.over_time(series, "Spend", "tier"), charts.over_time(series, "Quality", "tier"),
               charts.top_bars(pd.DataFrame({"name": ["a"], "spend": [1.0], "text": ["$1.00"]}), "warm-up")]
    means = pd.DataFrame({"frontier": [0.9]}, index=["planner"])
    figures.append(charts.quality_heatmap(means, means.map(lambda _: 1)))
    for figure in figures:
        figure.to_json()  # what st.plotly_chart serializes
    means.style.apply(lambda row: [""] * len(row), axis=1)._compute()  # Month close's styled table (jinja2)


def main(argv: list[str] | None = None) -> int:
    warm()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    return cli.main(prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
