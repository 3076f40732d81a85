"""A real `tierscope serve` process on free ports and a temporary chdb store, for the benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from tierscope.launch import wait_healthy


def _stop_children_on_sigterm() -> None:
    """`kill` of a bench script runs its `finally`/`with` blocks, so the collector it started stops
    too (by default SIGTERM ends Python at once, and the collector ran on, holding its store)."""
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid: int, field: str) -> int:
    """A `VmHWM`/`VmRSS`-style line of /proc/PID/status, in KiB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (threads of one name summed), from /proc/PID/task/*/stat."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            head, _, rest = (task / "stat").read_text().partition(" (")
            name, _, fields = rest.rpartition(") ")
            values = fields.split()
            out[name] = out.get(name, 0.0) + (int(values[11]) + int(values[12])) / tick
        except OSError:
            continue
    return out


class CollectorProcess:
    """`tierscope serve --store chdb:TMP --http-port P --grpc-port Q --prices ""` until stopped."""

    def __init__(self, store: str | None = None, *, keep_store: bool = False, env: dict[str, str] | None = None,
                 command: list[str] | None = None) -> None:
        """`env` adds environment variables (TIERSCOPE_* from the caller's are dropped); `command`
        replaces the `tierscope` executable (e.g. a patched launcher, for experiments)."""
        self.extra_env = env or {}
        self.command = command
        self._tmp = None if store else tempfile.mkdtemp(prefix="tierscope-bench-")
        self.store_path = store or str(Path(self._tmp) / "store")
        self.keep_store = keep_store or store is not None
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="tierscope-bench-", suffix=".log")[1])

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 120) -> CollectorProcess:
        _stop_children_on_sigterm()
        exe = Path(sys.executable).with_name("tierscope")
        command = [*(self.command or [str(exe)]), "serve", "--store", f"chdb:{self.store_path}", "--http-port", str(self.http_port),
                   "--grpc-port", str(self.grpc_port), "--prices", ""]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIERSCOPE_")} | self.extra_env
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_healthy(self.url, self.process, timeout=timeout, log=f"see {self.log_path}")
        except (RuntimeError, TimeoutError):
            self.stop()
            raise
        return self

    def get(self, path: str, timeout: float = 600, **params: str) -> dict:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=timeout)
        response.raise_for_status()
        return response.json()

    def peak_rss_mib(self) -> float:
        return status_kib(self.pid, "VmHWM") / 1024

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._tmp and not self.keep_store:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> CollectorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
