"""Section 3: the peer. Arize Phoenix ingesting the same OTLP/HTTP bodies, counted in its SQLite.

Phoenix lives in its own virtual environment (bench/.phoenix-venv, installed on first use and
kept), runs as `phoenix serve` with a temporary working directory, and is fed by the same client
processes as tierscope. It acknowledges a request before it writes the spans, so the rate is
spans persisted (rows in its `spans` table) over the time from the first send until the last
span is in the table.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


VENV = Path(__file__).resolve().parent / ".phoenix-venv"


@dataclass
class PeerResult:
    spans_sent: int
    spans_stored: int
    wall_s: float
    p50_ms: float
    p99_ms: float
    peak_rss_mib: float
    version: str

    @property
    def spans_per_s(self) -> float:
        return self.spans_stored / self.wall_s if self.wall_s else 0.0


def ensure_installed(log: Path) -> str | None:
    """The phoenix executable, installing it if missing; None (and why, in `log`) if impossible."""
    exe = VENV / "bin" / "phoenix"
    if exe.exists():
        return str(exe)
    with log.open("ab") as out:
        try:
            if not (VENV / "bin" / "python").exists():
                subprocess.run(["python3", "-m", "venv", str(VENV)], check=True, stdout=out, stderr=out)
            subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "arize-phoenix"], check=True,
                           stdout=out, stderr=out, timeout=1800)
        except (subprocess.SubprocessError, OSError) as exc:
            out.write(f"\nphoenix install failed: {exc}\n".encode())
            return None
    return str(exe) if exe.exists() else None


def version() -> str:
    try:
        out = subprocess.run([str(VENV / "bin" / "pip"), "show", "arize-phoenix"], capture_output=True, text=True,
                             timeout=60).stdout
    except (subprocess.SubprocessError, OSError):
        return "?"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Version:")), "?")


def _port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    except sqlite3.Error:
        return 0


def run(bodies: list[bytes], spans: int, clients: int = 4, settle_timeout: float = 120.0) -> PeerResult:
    """Send `bodies` to a fresh `phoenix serve`; time until all `spans` are rows in its database."""
    import multiprocessing as mp

    import numpy as np

    import ingest
    from collector_process import status_kib

    from tierscope.launch import wait_healthy

    exe = ensure_installed(Path(tempfile.gettempdir()) / "tierscope-bench-phoenix-install.log")
    if exe is None:
        raise RuntimeError("arize-phoenix could not be installed")
    workdir = Path(tempfile.mkdtemp(prefix="tierscope-bench-phoenix-"))
    port = _port(6006)
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(workdir), "PHOENIX_PORT": str(port), "PHOENIX_HOST": "127.0.0.1",
           "PHOENIX_GRPC_PORT": str(_port(0)), "PHOENIX_TELEMETRY_ENABLED": "false"}
    log = (workdir / "phoenix.log").open("wb")
    process = subprocess.Popen([exe, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, timeout=180, log=f"see {workdir / 'phoenix.log'}", interval=0.5)
        db = workdir / "phoenix.db"
        ingest._BODIES = bodies
        ctx = mp.get_context("fork")
        go, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=ingest._http_client, args=(url, list(range(k, len(bodies), clients)), go, results))
                 for k in range(clients)]
        for p in procs:
            p.start()
        time.sleep(1.0)
        start = time.monotonic()
        go.set()
        outcomes = [results.get() for _ in procs]
        for p in procs:
            p.join()
        stored, last_change, settle_deadline = _count(db), time.monotonic(), time.monotonic() + settle_timeout
        while stored < spans and time.monotonic() < settle_deadline:
            time.sleep(0.1)
            now = _count(db)
            if now != stored:
                stored, last_change = now, time.monotonic()
            elif time.monotonic() - last_change > 30:
                break  # stalled: report what is there
        wall = (last_change if stored else time.monotonic()) - start
        rss = status_kib(process.pid, "VmHWM") / 1024
    finally:
        ingest._BODIES = []
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
    latencies = np.array([x for o in outcomes for x in o[0]]) * 1000
    return PeerResult(spans, stored, wall, float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)),
                      rss, version())
