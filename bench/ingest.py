"""Section 1: OTLP ingest into a real collector process, over HTTP/protobuf and over gRPC.

Clients are separate processes (multiprocessing, fork), each sending its share of the pre-encoded
request bodies one after another on one keep-alive connection, so at most `clients` requests are
in flight — like a few busy OTel SDK exporters. A 429 / RESOURCE_EXHAUSTED is retried after a
short pause (and counted): the collector's backpressure is part of what is measured.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from dataclasses import dataclass

import numpy as np

from collector_process import CollectorProcess, cpu_seconds, status_kib, thread_cpu_seconds

_BODIES: list[bytes] = []  # set before forking; children read their share copy-on-write
_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@dataclass
class IngestResult:
    protocol: str
    spans_sent: int
    spans_stored: int
    requests: int
    wall_s: float
    p50_ms: float
    p99_ms: float
    retries: int
    peak_rss_mib: float
    collector_cpu_s: float
    client_cpu_s: float
    avg_insert_rows: int  # the store's mean insert, in rows
    thread_cpu_s: dict[str, float]  # collector CPU by thread name during the run
    visible_s: float = 0.0  # first send -> every span visible in the read API
    tree_cpu_s: float = 0.0  # collector + its worker processes
    tree_peak_rss_mib: float = 0.0  # collector's VmHWM + its workers' (an upper bound of the peak total)
    tree_peak_pss_mib: float = 0.0  # the largest sum of PSS over the collector and its workers, sampled

    @property
    def visible_per_s(self) -> float:
        return self.spans_stored / self.visible_s if self.visible_s else 0.0

    @property
    def spans_per_s(self) -> float:
        return self.spans_stored / self.wall_s if self.wall_s else 0.0

    @property
    def lost(self) -> int:
        return self.spans_sent - self.spans_stored


def _http_client(url: str, indices: list[int], go: mp.Event, results: mp.Queue) -> None:
    import httpx

    latencies, retries = [], 0
    headers = {"content-type": "application/x-protobuf"}
    with httpx.Client(timeout=120) as client:
        client.get(f"{url}/healthz")  # open the connection before the clock starts
        go.wait()
        for i in indices:
            while True:
                t0 = time.monotonic()
                response = client.post(f"{url}/v1/traces", content=_BODIES[i], headers=headers)
                if response.status_code == 200:
                    latencies.append(time.monotonic() - t0)
                    break
                retries += 1
                time.sleep(0.05 if response.status_code == 429 else 0.5)
        done = time.monotonic()
    results.put((latencies, retries, done, time.process_time()))


def _grpc_client(target: str, indices: list[int], go: mp.Event, results: mp.Queue) -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    latencies, retries = [], 0
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        # TraceServiceStub.Export's own method, fed the pre-serialized request (no client-side encode).
        export = channel.unary_unary(_EXPORT, request_serializer=None,
                                     response_deserializer=ExportTraceServiceResponse.FromString)
        grpc.channel_ready_future(channel).result(timeout=30)
        go.wait()
        for i in indices:
            while True:
                t0 = time.monotonic()
                try:
                    export(_BODIES[i], timeout=120)
                except grpc.RpcError as exc:
                    retries += 1
                    time.sleep(0.05 if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else 0.5)
                    continue
                latencies.append(time.monotonic() - t0)
                break
        done = time.monotonic()
    results.put((latencies, retries, done, time.process_time()))


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the collector's worker processes)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in _tree(pid))


def tree_peak_rss_mib(pid: int) -> float:
    return sum(status_kib(p, "VmHWM") for p in _tree(pid)) / 1024


def tree_pss_mib(pid: int) -> float:
    """PSS of `pid` and its descendants now: the memory the collector and its workers hold together."""
    return sum(_pss_kib(p) for p in _tree(pid)) / 1024


class PssSampler(threading.Thread):
    """The largest total proportional set size (PSS: shared pages split between the processes
    that map them) of `pid` and its descendants, sampled every `interval` seconds until stopped.
    Summing each process's own VmHWM counts the shared libraries once per process and adds
    peaks that did not happen at the same time; this is the memory the tree took at once."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.peak_kib = max(self.peak_kib, tree_pss_mib(self.pid) * 1024)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak_kib / 1024


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _py_spy(pid: int, svg: str) -> subprocess.Popen | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--output", svg, "--rate", "200", "--threads",
                             "--format", "raw" if svg.endswith(".txt") else "flamegraph"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(protocol: str, bodies: list[bytes], spans_sent: int, clients: int = 4,
        profile: str | None = None, env: dict[str, str] | None = None,
        command: list[str] | None = None) -> IngestResult:
    """Send `bodies` with `clients` processes to a fresh collector; count what it stored.

    With `profile` (an .svg path), py-spy records the collector (all threads, native frames off)
    for the duration of the run.
    """
    global _BODIES
    _BODIES = bodies
    ctx = mp.get_context("fork")
    with CollectorProcess(env=env, command=command) as collector:
        go, results = ctx.Event(), ctx.Queue()
        shares = [list(range(k, len(bodies), clients)) for k in range(clients)]
        target, args = ((_http_client, collector.url) if protocol == "http"
                        else (_grpc_client, f"127.0.0.1:{collector.grpc_port}"))
        procs = [ctx.Process(target=target, args=(args, share, go, results)) for share in shares]
        for p in procs:
            p.start()
        time.sleep(1.0)  # clients connected and waiting
        spy = _py_spy(collector.pid, profile) if profile else None
        cpu_before = cpu_seconds(collector.pid)
        tree_before = tree_cpu_seconds(collector.pid)
        threads_before = thread_cpu_seconds(collector.pid)
        pss = PssSampler(collector.pid)
        pss.start()
        start = time.monotonic()
        go.set()
        outcomes = [results.get() for _ in procs]
        for p in procs:
            p.join()
        wall = max(o[2] for o in outcomes) - start
        collector_cpu = cpu_seconds(collector.pid) - cpu_before
        threads = {k: v - threads_before.get(k, 0.0) for k, v in thread_cpu_seconds(collector.pid).items()}
        rss = collector.peak_rss_mib()
        if spy:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        stored = collector.get("/api/v1/spend", by="role")["total"]["spans"]
        while stored < spans_sent and time.monotonic() - start < wall + 120:  # persisted and visible
            time.sleep(0.05)
            stored = collector.get("/api/v1/spend", by="role")["total"]["spans"]
        visible = time.monotonic() - start
        cpu_tree = tree_cpu_seconds(collector.pid) - tree_before
        rss_tree = tree_peak_rss_mib(collector.pid)
        pss_tree = pss.stop()
        writer = collector.get("/api/v1/stats")
    latencies = np.array([x for o in outcomes for x in o[0]]) * 1000
    _BODIES = []
    return IngestResult(
        protocol=protocol, spans_sent=spans_sent, spans_stored=stored, requests=len(bodies), wall_s=wall,
        p50_ms=float(np.percentile(latencies, 50)), p99_ms=float(np.percentile(latencies, 99)),
        retries=sum(o[1] for o in outcomes), peak_rss_mib=rss, collector_cpu_s=collector_cpu,
        client_cpu_s=sum(o[3] for o in outcomes),
        avg_insert_rows=round(writer["spans_written"] / max(1, writer["inserts"])),
        visible_s=visible, tree_cpu_s=cpu_tree, tree_peak_rss_mib=rss_tree,
        tree_peak_pss_mib=pss_tree,
        thread_cpu_s={k: round(v, 2) for k, v in sorted(threads.items(), key=lambda kv: -kv[1]) if v >= 0.05},
    )


if __name__ == "__main__":
    import argparse

    from workload import request_bodies

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--protocol", choices=["http", "grpc"], default="http")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--profile", help="py-spy flamegraph .svg of the collector during the run")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the collector (experiments)")
    parser.add_argument("--patched", default="", help="comma-separated patches (bench/patched_serve.py), for experiments")
    a = parser.parse_args()
    t = time.monotonic()
    generated = request_bodies(a.spans)
    print(f"generated {a.spans} spans in {time.monotonic() - t:.1f}s")
    command = [sys.executable, str(Path(__file__).with_name("patched_serve.py")), a.patched] if a.patched else None
    r = run(a.protocol, generated, a.spans, a.clients, a.profile, dict(e.split("=", 1) for e in a.env), command)
    print(r, f"{r.spans_per_s:,.0f} spans/s")
