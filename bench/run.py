"""`make bench`: every figure measured in this one run, printed as one table and written to
bench/results/ (markdown and json, timestamped, plus latest.*).

Sections: 1 ingest (OTLP/HTTP and gRPC into a real collector process), 2 the limits (decode +
normalize alone, raw store insert), 3 the peer (Arize Phoenix), 4 read-API latency on 10M spans,
5 instrumentation overhead, 6 collector memory. `--quick` runs everything tiny (the smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BASELINE = "efefdde"  # the commit whose decode/normalize/pricing/rows the fast paths replaced
INGEST_BASE = "d9b8a4c"  # the collector before the ingest log (ack after the insert), measured beside this tree


@dataclass
class Row:
    section: str
    measure: str
    value: str
    target: str = ""
    met: str = ""  # "yes", "NO", or "" (no target)


@dataclass
class Report:
    machine: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, object] = field(default_factory=dict)

    def add(self, section: str, measure: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(section, measure, value, target, "" if ok is None else ("yes" if ok else "NO")))

    def markdown(self) -> str:
        m = self.machine
        lines = [f"# tierscope bench — {m['date']}", "",
                 f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram']} RAM, load average at start {m['load_start']}, "
                 f"at end {m.get('load_end', '?')}; Python {m['python']}, chdb {m['chdb']} (ClickHouse {m['clickhouse']}), "
                 f"protobuf {m['protobuf']}, pyarrow {m['pyarrow']}, genai-prices {m['genai_prices']}; "
                 f"total bench time {m.get('total_s', '?')} s.", "",
                 "| section | measure | value | target | met |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r.section} | {r.measure} | {r.value} | {r.target} | {r.met} |" for r in self.rows]
        if self.notes:
            lines += ["", "Notes:", *[f"- {n}" for n in self.notes]]
        return "\n".join(lines) + "\n"


def machine() -> dict[str, str]:
    import chdb
    import genai_prices
    import google.protobuf
    import pyarrow

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")))
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "nproc": str(os.cpu_count()), "cpu": cpu,
            "ram": f"{mem_kib / 1024**2:.1f} GiB", "python": platform.python_version(), "chdb": chdb.__version__,
            "clickhouse": str(getattr(chdb, "engine_version", "?")), "protobuf": google.protobuf.__version__,
            "pyarrow": pyarrow.__version__, "genai_prices": genai_prices.__version__,
            "load_start": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def _child(fn, *args):  # noqa: ANN001, ANN202 - runs `fn(*args)` in a fresh process (chdb: one engine each)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


def _burst(v) -> str:  # noqa: ANN001 - an ingest_compare.Variant
    if not v.burst:
        return "—"
    apps = ", ".join(f"{b['protocol']} {_fmt(b['delivered_llm'])}" + (" (Queue full)" if b["queue_full"] else "")
                     for b in v.burst)
    return apps + (f"; stored {_fmt(v.burst_stored)}" if v.burst_stored is not None else "")


def _ack(v) -> str:  # noqa: ANN001 - an ingest_compare.Variant
    return f"{v.ack_p50_ms:.1f} / {v.ack_p99_ms:.1f} ms" if v.ack_p50_ms else "—"


def _load_row(r) -> tuple[str, str, str, str, str]:  # noqa: ANN001 - an ingest.IngestResult or None
    """Visible spans/s, loss, ack p50/p99 + retries, CPU per span + cores, peak memory: '—' when not run."""
    if r is None:
        return "—", "—", "—", "—", "—"
    return (_fmt(r.visible_per_s), str(r.lost), f"{r.p50_ms:.0f} / {r.p99_ms:.0f} ms, {r.retries}",
            f"{r.tree_cpu_s / r.spans_sent * 1e6:.1f} µs, {r.tree_cpu_s / r.visible_s:.2f}",
            f"{r.tree_peak_pss_mib:,.0f} MiB ({r.tree_peak_rss_mib:,.0f})")


def section_ingest(report: Report, bodies: list[bytes], spans: int, clients: int, quick: bool,
                   base: str = INGEST_BASE) -> dict:
    """Sink, before and after side by side; returns this tree's ingest results for section 2.
    `--quick` (the smoke test) leaves out the base commit."""
    import ingest_compare
    import limit
    from workload import request_bodies

    decode = limit.decode_rate(bodies[: max(1, min(len(bodies), 200))], min(spans, 200 * 500))
    ack_bodies = request_bodies(512 * (20 if quick else 210), batch=512, seed=11)
    burst = 500 if quick else 5_000
    sink, before, after = ingest_compare.compare(None if quick else base, ack_bodies, bodies, spans,
                                                 clients, burst)
    names = f"instant sink · {before.name} · {after.name}"
    report.add("1 ingest", f"ack latency p50 / p99, 512-span OTLP/HTTP requests, one sequential client: {names}",
               " · ".join(_ack(v) for v in (sink, before, after)), "after p50 ≤ 5× sink",
               after.ack_p50_ms <= 5 * sink.ack_p50_ms)
    report.add("1 ingest", f"SDK defaults burst (two apps, HTTP + gRPC, {_fmt(burst)} LLM spans each under parents in "
               f"~2 s): LLM spans delivered — {names}", " · ".join(_burst(v) for v in (sink, before, after)),
               f"{_fmt(burst)} each, no Queue full",
               all(b["delivered_llm"] == burst and not b["queue_full"] for b in after.burst))
    report.add("1 ingest", "decode limit: decode + normalize, one core, in-process (this run)",
               f"{_fmt(decode.decode_normalize_per_s)} spans/s ({decode.cpu_us_per_span:.1f} µs CPU/span)")
    for protocol in ("http", "grpc"):
        a = after.ingest[protocol]
        b, a_row = _load_row(before.ingest.get(protocol)), _load_row(a)
        name = "OTLP/HTTP" if protocol == "http" else "OTLP/gRPC"
        ratio = a.visible_per_s / decode.decode_normalize_per_s
        report.add("1 ingest", f"{name}: persisted-and-visible spans/s ({_fmt(spans)} spans, {clients} clients, "
                   f"500-span requests), before · after, after ÷ decode limit",
                   f"{b[0]} · {a_row[0]}, {ratio:.2f}", "≥ 0.5", ratio >= 0.5)
        report.add("1 ingest", f"{name}: loss (sent − stored), before · after", f"{b[1]} · {a_row[1]}", "0", a.lost == 0)
        report.add("1 ingest", f"{name}: ack p50 / p99 under that load, 429 retries, before · after",
                   f"{b[2]} · {a_row[2]}")
        report.add("1 ingest", f"{name}: collector CPU per span (workers included), cores used, before · after",
                   f"{b[3]} · {a_row[3]}")
        report.add("1 ingest", f"{name}: peak memory, collector + workers: PSS sampled every 100 ms (each one's "
                   f"VmHWM summed, an upper bound), before · after",
                   f"{b[4]} · {a_row[4]}", "≤ 1,024 MiB", a.tree_peak_pss_mib <= 1024)
    report.raw["ingest_compare"] = {v.name: {**asdict(v), "ingest": {k: asdict(r) for k, r in v.ingest.items()}}
                                    for v in (sink, before, after)}
    report.raw["decode_limit"] = asdict(decode)
    return after.ingest


def section_limits(report: Report, bodies: list[bytes], spans: int, ingest_results: dict, batch: int) -> None:
    import limit

    sample = bodies[: max(1, min(len(bodies), 200))]
    sample_spans = min(spans, len(sample) * 500)
    rate = limit.decode_rate(sample, sample_spans)
    report.add("2 limit", f"decode + normalize alone, in-process, one core ({_fmt(sample_spans)} spans)",
               f"{_fmt(rate.decode_normalize_per_s)} spans/s ({rate.cpu_us_per_span:.1f} µs CPU/span)")
    report.add("2 limit", "… plus pricing + Arrow tables (all of Collector.prepare)",
               f"{_fmt(rate.with_pricing_arrow_per_s)} spans/s")
    try:
        before = _child(limit.decode_rate_at, BASELINE, sample, sample_spans)
    except Exception as exc:  # noqa: BLE001 - e.g. no git history in an exported tree
        report.add("2 limit", f"same, hot path as of {BASELINE} (before the fast paths)", f"skipped: {exc}"[:200])
    else:
        report.add("2 limit", f"same two, hot path as of {BASELINE} (before the fast paths)",
                   f"{_fmt(before.decode_normalize_per_s)} spans/s ({before.cpu_us_per_span:.1f} µs CPU/span); "
                   f"{_fmt(before.with_pricing_arrow_per_s)} spans/s")
        report.raw["decode_before"] = asdict(before)
    sample = bodies[: max(1, min(len(bodies), 400))]
    for size, settings in ((batch, None), (50_000, None), (batch, {"optimize_on_insert": 0}),
                           (50_000, {"optimize_on_insert": 0})):
        ins = _child(limit.insert_rate, sample, size, settings)
        how = (f"bare insert_arrow with {ins.settings}, no hour marks" if settings
               else "Store.insert → chdb insert_arrow + hour marks")
        report.add("2 limit", f"store raw insert ({how}, {_fmt(ins.batch)}-row batches, {_fmt(ins.rows)} rows)",
                   f"{_fmt(ins.rows_per_s)} rows/s")
        report.raw[f"insert_{size}" + ("_no_optimize_on_insert" if settings else "")] = asdict(ins)
    http = ingest_results["http"]
    ratio = http.visible_per_s / rate.decode_normalize_per_s
    report.add("2 limit", "end-to-end HTTP ÷ decode+normalize", f"{ratio:.0%}", "≥ 50%", ratio >= 0.5)
    report.add("2 limit", "end-to-end HTTP ÷ decode+normalize+pricing+Arrow",
               f"{http.visible_per_s / rate.with_pricing_arrow_per_s:.0%}")
    report.add("2 limit", f"end-to-end HTTP ÷ raw insert ({_fmt(batch)}-row batches: the writer's mean insert in (1))",
               f"{http.spans_per_s / report.raw[f'insert_{batch}']['rows_per_s']:.0%}")
    report.raw["decode"] = asdict(rate)


def section_peer(report: Report, bodies: list[bytes], spans: int, clients: int) -> None:
    import phoenix

    count = min(len(bodies), max(1, spans // 500))
    try:
        r = phoenix.run(bodies[:count], min(spans, count * 500), clients)
    except Exception as exc:  # noqa: BLE001 - the peer is optional; say why it is missing
        report.add("3 peer", "Arize Phoenix", f"skipped: {str(exc).splitlines()[0][:160]}")
        return
    report.add("3 peer", f"Arize Phoenix {r.version} (SQLite): persisted spans/s ({_fmt(r.spans_sent)} spans, same bodies "
               f"and clients)", _fmt(r.spans_per_s))
    report.add("3 peer", "Arize Phoenix: stored, request latency p50 / p99, peak RSS",
               f"{_fmt(r.spans_stored)} of {_fmt(r.spans_sent)}, {r.p50_ms:.0f} / {r.p99_ms:.0f} ms, {r.peak_rss_mib:.0f} MiB")
    report.raw["phoenix"] = asdict(r)


def section_query(report: Report, spans: int, store_path: str | None, budget_s: float, days: int = 90,
                  runs: int = 15, quick: bool = False) -> None:
    import pages
    import query
    import rollup
    from collector_process import CollectorProcess

    tmp = tempfile.mkdtemp(prefix="tierscope-bench-query-")
    store_path = store_path or f"{tmp}/store"
    built = _child(query.build_store, store_path, spans, days)
    report.add("4 query", f"store generated: {_fmt(built.spans)} spans (Arrow inserts, merged, + 1 fresh hour of "
               f"{_fmt(min(1_000_000, built.spans // 10))})",
               f"{built.seconds:.0f} s (OPTIMIZE FINAL {built.optimize_s:.0f} s), {built.parts} active parts")
    report.add("4 query", "rollup filled from v_spans: hours, rows, time (the fresh hour's units to :55, its last "
               "unit left to raw reads)",
               f"{_fmt(built.rollup_hours)} hours, {_fmt(built.rollup_rows)} rows (per-task rollup "
               f"{_fmt(built.task_rows)} rows), {built.rollup_s:.0f} s")
    with CollectorProcess(store=store_path, env={"TIERSCOPE_ALERT_INTERVAL_S": "0",
                                                 "TIERSCOPE_ROLLUP_INTERVAL_S": "0"}) as collector:
        timings = query.time_endpoints(collector, built.trace_id, runs=runs, budget_s=budget_s)
        shown = pages.PAGES[:2] if quick else pages.PAGES  # --quick: the timing code runs, on two pages
        page_timings = pages.time_pages(collector.url, pages=shown) if Path(pages.CHROMIUM).exists() else []
    for t in timings:
        ok = None if t.runs == 0 else t.p95_ms <= 300
        value = (f"{t.p50_ms:,.0f} / {t.p95_ms:,.0f} ms (n={t.runs})" if t.runs else "—") + (f"; {t.note}" if t.note else "")
        report.add("4 query", f"{t.label}: p50 / p95", value, "p95 ≤ 300 ms", ok)
    report.raw["query"] = [asdict(t) for t in timings]
    for t in page_timings:
        report.add("4 query", f"dashboard page '{t.page}' in chromium: cold / warm cache",
                   f"{t.cold_ms:,.0f} / {t.warm_ms:,.0f} ms" + (f"; {t.note}" if t.note else ""), "≤ 2 s",
                   None if t.note else t.cold_ms <= 2000)
    report.raw["pages"] = [asdict(t) for t in page_timings]
    cost = _child(rollup.where_time_goes, store_path)
    report.add("4 query", "why: spend by role, 30 days, straight on the store (median)", "; ".join(
        f"{v.label}: {v.median_ms:,.0f} ms" for v in cost.variants))
    report.raw["rollup"] = asdict(cost)
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


def section_shim(report: Report, scale: float) -> None:
    out = subprocess.run([sys.executable, str(HERE / "shim.py"), str(scale)], capture_output=True, text=True, timeout=900)
    try:
        r = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        report.add("5 shim", "instrumentation overhead", f"failed: {(out.stderr or out.stdout)[-200:]}")
        return
    report.add("5 shim", "llm_call() + record_usage() vs bare SDK span with the same attributes (no I/O)",
               f"+{r['added_us']:.1f} µs ({r['llm_call_us']:.1f} vs {r['bare_span_us']:.1f} µs)", "≤ 15 µs",
               r["added_us"] <= 15)
    report.add("5 shim", f"openai SDK via fake provider: tierscope instrument() adds (call {r['uninstrumented_call_us']:,.0f} µs)",
               f"+{r['tierscope_added_us']:.0f} µs")
    llmetry = r.get("openllmetry_added_us", r.get("openllmetry"))
    report.add("5 shim", "openai SDK via fake provider: OpenLLMetry opentelemetry-instrumentation-openai adds",
               f"+{llmetry:.0f} µs" if isinstance(llmetry, float) else str(llmetry))
    report.raw["shim"] = r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000, help="spans per ingest run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--phoenix-spans", type=int, default=5_000)
    parser.add_argument("--query-spans", type=int, default=10_000_000)
    parser.add_argument("--query-store", help="build the query store at this path (kept)")
    parser.add_argument("--query-budget", type=float, default=200, help="seconds for timing the read API")
    parser.add_argument("--query-days", type=int, default=90, help="days the query store's spans cover")
    parser.add_argument("--skip", default="", help="comma-separated sections to skip: ingest,limit,peer,query,shim")
    parser.add_argument("--ingest-base", default=INGEST_BASE, help="the commit the ingest section measures beside "
                        "this tree (default: the collector before the ingest log)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument("--out", default=str(RESULTS))
    a = parser.parse_args()
    if a.quick:
        a.spans, a.phoenix_spans, a.query_spans, a.query_days = 5_000, 1_000, 20_000, 2
    skip = set(filter(None, a.skip.split(",")))
    t0 = time.monotonic()
    report = Report(machine())
    report.notes.append(f"Clients: {a.clients} separate processes (multiprocessing, fork), each posting pre-encoded "
                        "500-span ExportTraceServiceRequest bodies one after another on one keep-alive connection "
                        "(gRPC: the TraceService/Export method with the pre-serialized request); they share the "
                        "machine's cores with the collector, as co-located exporters would; their CPU is shown.")
    report.notes.append("Persisted-and-visible spans/s = spans counted by GET /api/v1/spend ÷ wall time from the "
                        "first send until all of them are visible there (this tree acknowledges from its ingest "
                        "log, before the insert; the base commit acknowledged after the insert).")
    from workload import request_bodies

    g0 = time.monotonic()
    bodies = request_bodies(a.spans)
    report.notes.append(f"Workload: {a.spans:,} LLM spans (15 models, 20 roles, tokens incl. cache and reasoning, "
                        f"5 services x 3 environments, ~20 attributes and ~{sum(map(len, bodies)) // a.spans} bytes "
                        f"per span), generated in {time.monotonic() - g0:.0f} s before timing.")
    ingest_results = {}
    mark = [time.monotonic()]

    def done(section: str) -> None:  # progress on stderr: the full bench runs for tens of minutes
        now = time.monotonic()
        print(f"bench: {section} done in {now - mark[0]:.0f} s ({now - t0:.0f} s in all)", file=sys.stderr, flush=True)
        mark[0] = now

    if "ingest" not in skip:
        ingest_results = section_ingest(report, bodies, a.spans, a.clients, a.quick, a.ingest_base)
        report.add("6 memory", "collector peak RSS (VmHWM, main process) during the HTTP / gRPC run",
                   f"{ingest_results['http'].peak_rss_mib:,.0f} / {ingest_results['grpc'].peak_rss_mib:,.0f} MiB",
                   "≤ 1,024 MiB", max(r.peak_rss_mib for r in ingest_results.values()) <= 1024)
        done("ingest")
    if "limit" not in skip and ingest_results:
        batch = max(500, ingest_results["http"].avg_insert_rows)
        section_limits(report, bodies, a.spans, ingest_results, batch)
        done("limit")
    if "peer" not in skip:
        section_peer(report, bodies, a.phoenix_spans, a.clients)
        done("peer")
    del bodies
    if "query" not in skip:
        section_query(report, a.query_spans, a.query_store, 3 if a.quick else a.query_budget, a.query_days,
                      3 if a.quick else 15, a.quick)
        done("query")
    if "shim" not in skip:
        section_shim(report, 0.05 if a.quick else 1.0)
        done("shim")
    report.machine["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    report.machine["total_s"] = f"{time.monotonic() - t0:.0f}"
    text = report.markdown()
    print(text)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    payload = json.dumps({"machine": report.machine, "rows": [asdict(r) for r in report.rows], "notes": report.notes,
                          "raw": report.raw}, indent=2, default=str)
    for name in (f"bench-{stamp}", "latest"):
        (out / f"{name}.md").write_text(text)
        (out / f"{name}.json").write_text(payload)
    print(f"written: {out / f'bench-{stamp}.md'} and .json (also latest.md / latest.json)")


if __name__ == "__main__":
    main()
