"""Open the store for the collector, even when a ClickHouse server is down at startup.

An embedded store (`chdb:PATH`) opens now or not at all: a failure there (say, another process
holds the path) is a configuration mistake, reported in one line. A server store (`http(s)://...`)
that does not answer is an outage: the collector starts anyway, its writer spools every accepted
batch to disk (fsync'd) as it does for an outage after start, read-API calls answer 503 "store
unavailable: ...", and a background thread retries the connection and the migrations with capped
exponential backoff. Once the server answers, every call passes straight through to the real
`Store` and the writer drains the spool into it.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Callable
from typing import Any

from tierscope.collector.store.clickhouse import Store, StoreError, StoreURL
from tierscope.errors import StoreUnavailable

log = logging.getLogger(__name__)

# ClickHouse error codes that no amount of waiting fixes: READONLY, UNKNOWN_USER, REQUIRED_PASSWORD,
# ACCESS_DENIED (no right to run the migrations), AUTHENTICATION_FAILED. A server that answers with
# these is up and refusing us.
_REFUSALS = re.compile(r"\b[Cc]ode:? (164|192|194|497|516)\b|AUTHENTICATION_FAILED|Authentication failed")
_OS_ERROR = re.compile(r"\[Errno -?\d+\] [^\"')(]+|timed out|Name or service not known")


def open_store(url: str, opener: Callable[[str], Store] = Store, *, first_delay: float = 0.5,
               max_delay: float = 30.0) -> Store | ReconnectingStore:
    """A migrated store; or, for a server that does not answer yet, a stand-in that becomes it.

    `opener` builds the Store from the URL (tests pass one that fails a few times first).
    Raises StoreError for an embedded store that cannot open or for a server that refuses us.
    """
    if StoreURL.parse(url).kind == "chdb":
        return _open_migrated(opener, url)
    try:
        return _open_migrated(opener, url)
    except Exception as exc:  # clickhouse-connect raises many types; a refusal is re-raised below
        if _refused(exc):
            raise StoreError(f"{_one_line(exc)}: the server refused this user; check the user, password and "
                             "grants in the store URL") from exc
        pending = ReconnectingStore(url, opener, first_delay=first_delay, max_delay=max_delay, first_error=exc)
        log.warning("%s; accepting spans into the spool and retrying in the background", pending.reason())
        return pending.start()


class ReconnectingStore:
    """Stands in for a server store that was down at startup, and becomes it once it answers.

    Until then every store call raises StoreUnavailable (the writer spools, the read API answers
    503); afterwards attribute access is forwarded to the connected, migrated `Store`, so callers
    never hold a stale reference.
    """

    def __init__(self, url: str, opener: Callable[[str], Store] = Store, *, first_delay: float = 0.5,
                 max_delay: float = 30.0, first_error: BaseException | None = None) -> None:
        self._store: Store | None = None  # first: __getattr__ reads it
        self.url = StoreURL.parse(url)
        self._raw_url = url
        self._opener = opener
        self.first_delay, self.max_delay = first_delay, max_delay
        self.attempts = 1 if first_error else 0
        self.last_error = _one_line(first_error) if first_error else "not connected yet"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tierscope-store-connect", daemon=True)

    @property
    def available(self) -> bool:
        return self._store is not None

    def describe(self) -> str:
        u = self.url
        return f"http{'s' if u.secure else ''}://{u.host}:{u.port}/{u.database}"

    def reason(self) -> str:
        return (f"store unavailable: {self.describe()} did not answer ({self.last_error}); "
                f"{self.attempts} attempt(s) so far, retrying at most every {self.max_delay:g}s")

    def start(self) -> ReconnectingStore:
        self._thread.start()
        return self

    def _run(self) -> None:
        jitter = random.Random()
        while not self._stop.is_set():
            delay = min(self.max_delay, self.first_delay * 2 ** max(0, self.attempts - 1))
            if self._stop.wait(delay * jitter.uniform(0.8, 1.2)):  # jitter: collectors do not stampede
                return
            self.attempts += 1
            try:
                store = _open_migrated(self._opener, self._raw_url)
            except Exception as exc:  # still down (or refusing: keep saying so, loudly)
                self.last_error = _one_line(exc)
                level = logging.ERROR if _refused(exc) else logging.INFO
                log.log(level, "store connection attempt %d failed: %s", self.attempts, self.last_error)
                continue
            if self._stop.is_set():  # closed while this attempt ran
                store.close()
                return
            self._store = store
            log.warning("store %s is up after %d attempts; draining the spool", self.describe(), self.attempts)
            return

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe for these: not store calls
            raise AttributeError(name)
        store = self._store
        if store is None:
            raise StoreUnavailable(self.reason())
        return getattr(store, name)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        if self._store is not None:
            self._store.close()


def _open_migrated(opener: Callable[[str], Store], url: str) -> Store:
    store = opener(url)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def _refused(exc: BaseException) -> bool:
    """The server answered and turned us away (bad user or password): waiting will not help."""
    return any(_REFUSALS.search(str(e)) for e in (exc, exc.__cause__) if e is not None)


def _one_line(exc: BaseException) -> str:
    """The error in one short line: the OS's words when a socket failed (urllib3 wraps them deeply)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    os_error = _OS_ERROR.search(text)
    return os_error.group(0) if os_error else text[:300]
