"""Section 1, side by side in one run: an instant-ack sink, the collector before (a base commit)
and the collector of this tree.

For each: ack latency of 512-span OTLP/HTTP requests from one sequential client; the SDK-defaults
burst (bench/sdk_app.py: two default-SDK apps, HTTP and gRPC, 5,000 LLM spans each under parents
in ~2 s); and, for the collectors, persisted-and-visible throughput (ingest.run: 4 clients,
500-span requests), CPU per span and peak RSS, workers included.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

import ingest
from collector_process import CollectorProcess, free_port

from tierscope.launch import wait_healthy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PACKAGES = {"": "core", "collector": "collector", "instrumentation": "instrumentation", "dashboard": "dashboard",
            "sql": "sql"}  # pyproject's package-dir: tierscope[.name] <- folder


@dataclass
class Variant:
    name: str
    ack_p50_ms: float = 0.0
    ack_p99_ms: float = 0.0
    burst: list[dict] = field(default_factory=list)
    burst_stored: int | None = None
    ingest: dict[str, ingest.IngestResult] = field(default_factory=dict)


@contextlib.contextmanager
def base_tree(rev: str) -> Iterator[list[str]]:
    """`tierscope` as of git revision `rev`, importable: yields the command that runs its CLI."""
    with base_package(rev) as parent:
        yield [sys.executable, "-c", f"import sys; sys.path.insert(0, {parent!r}); "
                                     "from tierscope.cli import main; sys.argv[0] = 'tierscope'; main()"]


@contextlib.contextmanager
def base_package(rev: str) -> Iterator[str]:
    """`tierscope` as of git revision `rev`: yields the folder to put first on sys.path to import it."""
    tmp = Path(tempfile.mkdtemp(prefix="tierscope-base-"))
    try:
        src, pkg = tmp / "src", tmp / "pkg" / "tierscope"
        src.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        pkg.mkdir(parents=True)
        for entry in (src / "core").iterdir():
            (pkg / entry.name).symlink_to(entry)
        for name, folder in PACKAGES.items():
            if name:
                (pkg / name).symlink_to(src / folder)
        yield str(pkg.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def instant_sink() -> Iterator[tuple[str, int, int]]:
    http_port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "instant_sink.py"), str(http_port), str(grpc_port)])
    url = f"http://127.0.0.1:{http_port}"
    try:
        wait_healthy(url, proc, timeout=60, log="the instant sink exited", interval=0.1)
        yield url, grpc_port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def ack_latency(url: str, bodies: list[bytes], warmup: int = 10) -> tuple[float, float]:
    """p50, p99 ms of one sequential client posting `bodies` on one keep-alive connection."""
    latencies = []
    headers = {"content-type": "application/x-protobuf"}
    with httpx.Client(timeout=60) as client:
        for i, body in enumerate(bodies):
            t0 = time.perf_counter()
            response = client.post(f"{url}/v1/traces", content=body, headers=headers)
            if i >= warmup:
                latencies.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
    return float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99))


def sdk_burst(url: str, grpc_port: int, spans: int = 5_000) -> list[dict]:
    """Both default-SDK apps at once (HTTP and gRPC); each reports what its exporter delivered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    targets = {"http": f"{url}/v1/traces", "grpc": f"127.0.0.1:{grpc_port}"}
    apps = [subprocess.Popen([sys.executable, str(HERE / "sdk_app.py"), protocol, target, str(spans)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
            for protocol, target in targets.items()]
    return [json.loads(app.communicate(timeout=300)[0].strip().splitlines()[-1]) for app in apps]


def measure_collector(variant: Variant, command: list[str] | None, ack_bodies: list[bytes], bodies: list[bytes],
                      spans: int, clients: int, burst_spans: int) -> None:
    with CollectorProcess(command=command) as collector:  # burst_stored: what the burst added
        variant.ack_p50_ms, variant.ack_p99_ms = ack_latency(collector.url, ack_bodies)
        before = _stored(collector)
        variant.burst = sdk_burst(collector.url, collector.grpc_port, burst_spans)
        variant.burst_stored = _stored(collector) - before
    for protocol in ("http", "grpc"):
        variant.ingest[protocol] = ingest.run(protocol, bodies, spans, clients, command=command)


def _stored(collector: CollectorProcess, timeout: float = 60) -> int:
    """Spans visible once the collector's ingest log has drained into the store."""
    deadline = time.monotonic() + timeout
    while collector.get("/api/v1/stats").get("log_records", 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    return collector.get("/api/v1/spend")["total"]["spans"]


def compare(base_rev: str | None, ack_bodies: list[bytes], bodies: list[bytes], spans: int, clients: int,
            burst_spans: int = 5_000) -> list[Variant]:
    """The sink, the collector at `base_rev` (None: not run) and this tree's, one after another."""
    sink = Variant("instant sink")
    with instant_sink() as (url, grpc_port, _):
        sink.ack_p50_ms, sink.ack_p99_ms = ack_latency(url, ack_bodies)
        sink.burst = sdk_burst(url, grpc_port, burst_spans)
    after = Variant("after (this tree)")
    before = Variant(f"before ({base_rev})" if base_rev else "before (not run)")
    if base_rev:
        with base_tree(base_rev) as command:
            measure_collector(before, command, ack_bodies, bodies, spans, clients, burst_spans)
    measure_collector(after, None, ack_bodies, bodies, spans, clients, burst_spans)
    return [sink, before, after]
