"""Run the collector: OTLP/HTTP + read API (uvicorn) and OTLP/gRPC on one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import time

import uvicorn

from tierscope.collector.ingest.workers import hot_path_gc
from tierscope.collector.server.grpc_app import create_server
from tierscope.collector.server.http_app import create_app
from tierscope.collector.server.service import Collector
from tierscope.settings import Settings

log = logging.getLogger(__name__)


def check_port(host: str, port: int, what: str) -> None:
    """Fail early with a clear message if the port is taken."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise OSError(f"{what} port {host}:{port} is in use or not bindable ({exc.strerror}); "
                          f"choose another with --{what.lower()}-port") from None


async def serve(settings: Settings, collector: Collector | None = None, started: asyncio.Event | None = None,
                stop: asyncio.Event | None = None, warm_workers: bool = False) -> None:
    """Serve until SIGINT/SIGTERM (or `stop` is set); `started` is set once both ports listen.

    `warm_workers` boots the ingest worker processes before listening (`tierscope serve`), so the
    first burst is not built while they start; otherwise they start with the first big batch."""
    check_port(settings.host, settings.http_port, "HTTP")
    if settings.grpc_port:
        check_port(settings.host, settings.grpc_port, "gRPC")
    collector = collector or Collector(settings)
    hot_path_gc()
    # The store feeder's thread runs Python for whole batches; hand the GIL back to the event loop
    # every millisecond (the default is 5 ms), so an ack never waits behind a batch for long.
    sys.setswitchinterval(0.001)
    if warm_workers and collector.builder.workers:
        began = time.monotonic()
        up = collector.builder.warm()
        log.info("ingest workers: %d %s in %.1f s", collector.builder.workers,
                 "started" if up else "not up yet (the feeder builds in its thread meanwhile)", time.monotonic() - began)
    collector.start()
    config = uvicorn.Config(create_app(collector), host=settings.host, port=settings.http_port,
                            log_level="warning", access_log=False, lifespan="off")
    http = uvicorn.Server(config)
    http.install_signal_handlers = lambda: None  # we handle signals for both servers
    grpc_server = None
    if settings.grpc_port:
        grpc_server, _ = create_server(collector, settings.host, settings.grpc_port)
        await grpc_server.start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    http_task = asyncio.create_task(http.serve())
    while not http.started and not http_task.done():
        await asyncio.sleep(0.01)
    log.info("collector listening: http %s:%s grpc %s, store %s", settings.host, settings.http_port,
             settings.grpc_port or "off", collector.store.describe())
    if started:
        started.set()
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait([http_task, stop_task], return_when=asyncio.FIRST_COMPLETED)
    http.should_exit = True
    if grpc_server:
        await grpc_server.stop(grace=2)
    await http_task
    collector.stop()
    collector.store.close()


class BackgroundCollector:
    """A collector on its own thread and event loop: for tests, the demo and notebooks."""

    def __init__(self, settings: Settings, collector: Collector | None = None) -> None:
        import threading

        self.settings = settings
        self._owns_collector = collector is None
        self.collector = collector or Collector(settings)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="tierscope-collector", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.http_port}"

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            started = asyncio.Event()
            task = asyncio.create_task(serve(self.settings, self.collector, started, self._stop))
            await asyncio.wait([task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
            if task.done() and not task.cancelled() and task.exception() is not None:
                self._error = task.exception()  # before the starter wakes: it must see the failure
            self._started.set()
            await task

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the starter
            self._error = exc
            self._started.set()

    def start(self, timeout: float = 30) -> BackgroundCollector:
        self._thread.start()
        self._started.wait(timeout)
        if self._error:
            if self._owns_collector:  # give the store back: an embedded store locks its path per process
                if self.collector.ready:
                    self.collector.stop()
                self.collector.store.close()
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop and self._stop and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def __enter__(self) -> BackgroundCollector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
