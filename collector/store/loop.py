"""`Loop`: a daemon thread running a `_run` method from `start()` until `stop()`, as the store
feeder, the rollup refresher and the alert runner do."""

from __future__ import annotations

import threading


class Loop:
    """A daemon thread named `name` running `self._run`, which returns once `self._stop` is set."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait up to `timeout` seconds for it (not at all if it never started)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError
