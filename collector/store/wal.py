"""The ingest log: a durable, append-only log of accepted requests in front of the store.

Every accepted OTLP request is appended here and fsync'd before it is acknowledged, so an ack
means "on local disk". Appends from concurrent requests are written and fsync'd together by one
committer thread (group commit): one fsync covers every request that arrived while the previous
one ran. The store feeder reads records in order and, once their rows are in the store, confirms
a position; a segment is deleted only when every record in it is confirmed. A checkpoint file
holds the confirmed position, so a restart replays exactly the records not yet confirmed (and a
record replayed after a kill between insert and confirm is harmless: the store keys its rows).

On open, the last segment is scanned and a torn tail (a kill mid-write) is cut; every record
before it is kept. The log is bounded: past `max_bytes` of unconfirmed records `append` raises
LogFull and the front doors answer 429 with Retry-After. File format: wal_format.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from tierscope.collector.store import wal_format as fmt
from tierscope.collector.store.wal_format import Record
from tierscope.errors import LogFull

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class Backlog:
    """What is acknowledged but not yet confirmed in the store."""

    bytes: int
    records: int
    oldest_age_s: float


class WriteAheadLog:
    def __init__(self, directory: str | Path, *, max_bytes: int = 1 << 30, segment_bytes: int = 64 << 20) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.segment_bytes = max_bytes, segment_bytes
        self.cut_bytes = 0  # torn tail removed on open
        self._cond = threading.Condition()
        self._pending: list[tuple[bytes, Future]] = []
        self._pending_bytes = 0
        self._stopping = False
        self._segments = self._open_segments()
        self._fd = self._open_for_append(self._segment_path(self._segments[-1]))
        self.records_total = self._records_after(self.confirmed)
        self.records_confirmed = 0
        self.fsyncs = 0
        self._thread = threading.Thread(target=self._commit_loop, name="tierscope-log-commit", daemon=True)
        self._thread.start()

    # --- opening ----------------------------------------------------------------------------------
    def _segment_path(self, start: int) -> Path:
        return self.directory / fmt.segment_name(start)

    def _open_segments(self) -> list[int]:
        """Segment starts in order, confirmed ones deleted and the last one's torn tail cut."""
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink(missing_ok=True)
        starts = sorted(p for p in map(fmt.segment_position, os.listdir(self.directory)) if p is not None)
        checkpoint = self.directory / CHECKPOINT
        confirmed = fmt.decode_checkpoint(checkpoint.read_bytes()) if checkpoint.exists() else None
        if not starts:
            starts = [confirmed or 0]
            self._segment_path(starts[0]).touch()
        while len(starts) > 1 and confirmed is not None and starts[1] <= confirmed:
            self._segment_path(starts.pop(0)).unlink()
        last = self._segment_path(starts[-1])
        data = last.read_bytes()
        _, valid = fmt.scan(data, starts[-1])
        self.cut_bytes = len(data.rstrip(b"\0")) - valid if valid < len(data) else 0
        if self.cut_bytes > 0:
            log.warning("ingest log %s: cut a torn tail of %d bytes (a crash mid-write; never acknowledged)",
                        last, self.cut_bytes)
        self.cut_bytes = max(0, self.cut_bytes)
        if valid < len(data):  # a torn tail or preallocated space: zeros from the last whole record on
            with open(last, "r+b") as f:
                f.truncate(valid)
                os.fsync(f.fileno())
        self._end = self._durable_end = starts[-1] + valid
        self.confirmed = min(max(confirmed or 0, starts[0]), self._end)
        return starts

    def _open_for_append(self, path: Path) -> int:
        """The segment's descriptor, its space allocated up front: each group commit's fdatasync
        then writes data only, not the file's growing size (a steadier fsync)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.posix_fallocate(fd, 0, self.segment_bytes)
        except OSError:  # a file system without fallocate: the segment just grows
            pass
        return fd

    def _records_after(self, position: int) -> int:
        """How many records lie between `position` and the end (headers only, no payload read)."""
        count = 0
        for start, end in self._segment_ranges(position, self._durable_end):
            with open(self._segment_path(start), "rb") as f:
                at = end[0]
                while at < end[1]:
                    f.seek(at - start)
                    header = f.read(fmt.HEADER.size)
                    if len(header) < fmt.HEADER.size:
                        break
                    at += fmt.HEADER.size + fmt.HEADER.unpack(header)[0]
                    count += 1
        return count

    def _segment_ranges(self, position: int, until: int) -> list[tuple[int, tuple[int, int]]]:
        """(segment start, (from, to)) for each segment overlapping [position, until)."""
        out = []
        bounds = [*self._segments[1:], until]
        for start, stop in zip(self._segments, bounds):
            lo, hi = max(position, start), min(stop, until)
            if lo < hi:
                out.append((start, (lo, hi)))
        return out

    # --- appending --------------------------------------------------------------------------------
    def append(self, payload: bytes, time_us: int | None = None) -> Future:
        """Queue one record; the future resolves once it is fsync'd. Raises LogFull at the cap."""
        record = fmt.encode(payload, time.time_ns() // 1000 if time_us is None else time_us)
        future: Future = Future()
        with self._cond:
            if self._stopping:
                raise LogFull(self.max_bytes, retry_after=5)
            if self._end + self._pending_bytes - self.confirmed + len(record) > self.max_bytes:
                raise LogFull(self.max_bytes)
            self._pending.append((record, future))
            self._pending_bytes += len(record)
            self._cond.notify_all()
        return future

    def _commit_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
            try:
                self._write([record for record, _ in batch])
            except OSError as exc:  # a full or failing disk: nothing in this batch is acknowledged
                log.error("ingest log write failed: %s", exc)
                with self._cond:
                    self._pending_bytes -= sum(len(record) for record, _ in batch)
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for _, future in batch:
                future.set_result(None)

    def _write(self, records: list[bytes]) -> None:
        data = b"".join(records)
        if self._end > self._segments[-1] and self._end - self._segments[-1] + len(data) > self.segment_bytes:
            self._rotate()
        # On a failure the end does not move: the next batch overwrites whatever reached the file,
        # and a crash before that leaves a torn tail that the next open cuts.
        written = os.pwrite(self._fd, data, self._end - self._segments[-1])
        if written != len(data):
            raise OSError(f"short write to the ingest log ({written} of {len(data)} bytes)")
        self._fsync(self._fd)
        with self._cond:
            self._end += len(data)
            self._pending_bytes -= len(data)  # counted against the cap until it is in _end
            self._durable_end = self._end
            self.records_total += len(records)
            self._cond.notify_all()

    def _rotate(self) -> None:
        """Start a new segment at the current end (the old one is already fsync'd)."""
        fd = self._open_for_append(self._segment_path(self._end))
        self._fsync_dir()
        os.close(self._fd)
        self._fd = fd
        with self._cond:
            self._segments.append(self._end)

    def _fsync(self, fd: int) -> None:
        os.fdatasync(fd)
        self.fsyncs += 1

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- reading and confirming -------------------------------------------------------------------
    @property
    def end(self) -> int:
        """Position just past the last durable record."""
        return self._durable_end

    def wait(self, position: int, timeout: float) -> bool:
        """Block until records exist past `position` (or the log stops); True if they do."""
        with self._cond:
            if self._durable_end <= position and not self._stopping:
                self._cond.wait(timeout)
            return self._durable_end > position

    def read(self, position: int, max_bytes: int) -> list[Record]:
        """Durable records from `position` on, about `max_bytes` of them (at least one if any).

        A damaged record inside the log (not a torn tail: that is cut on open) cannot be read past;
        the rest of its segment comes back as one Record with an empty payload, for the caller to
        count as lost and step over.
        """
        with self._cond:
            ranges = self._segment_ranges(position, self._durable_end)
        records: list[Record] = []
        budget = max_bytes
        for start, (lo, hi) in ranges:
            with open(self._segment_path(start), "rb") as f:
                f.seek(lo - start)
                data = f.read(min(hi - lo, max(budget, 0)))
                if len(data) < hi - lo and fmt.needed(data) > len(data):  # one record larger than the budget
                    data += f.read(fmt.needed(data) - len(data))
            found, valid = fmt.scan(data, lo)
            records += found
            if valid < len(data) and len(data) == hi - lo or not found:
                log.error("ingest log: damaged record at position %d; %d bytes skipped", lo + valid, hi - lo - valid)
                records.append(Record(hi, 0, b""))
            budget -= len(data)
            if budget <= 0 or records[-1].end < hi:
                break
        return records

    def _time_at(self, position: int) -> int | None:
        """Append time of the record at `position` (its header only)."""
        with self._cond:
            ranges = self._segment_ranges(position, self._durable_end)
        if not ranges:
            return None
        start, (lo, _) = ranges[0]
        with open(self._segment_path(start), "rb") as f:
            f.seek(lo - start)
            header = f.read(fmt.HEADER.size)
        return fmt.HEADER.unpack(header)[2] if len(header) == fmt.HEADER.size else None

    def confirm(self, position: int, records: int) -> None:
        """Everything before `position` (`records` records) is in the store: checkpoint, drop segments."""
        tmp = self.directory / (CHECKPOINT + ".tmp")
        with open(tmp, "wb") as f:
            f.write(fmt.encode_checkpoint(position))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / CHECKPOINT)
        with self._cond:
            self.confirmed = position
            self.records_confirmed += records
            done = [s for s, nxt in zip(self._segments, self._segments[1:]) if nxt <= position]
            self._segments = self._segments[len(done):]
            self._cond.notify_all()
        for start in done:
            self._segment_path(start).unlink(missing_ok=True)

    def wait_confirmed(self, position: int, timeout: float) -> bool:
        """Block until everything before `position` is confirmed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.confirmed < position:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping:
                    return False
                self._cond.wait(left)
        return True

    def backlog(self, now_us: int | None = None) -> Backlog:
        with self._cond:
            confirmed, end = self.confirmed, self._durable_end
            records = max(0, self.records_total - self.records_confirmed)
        if confirmed >= end:
            return Backlog(0, 0, 0.0)
        oldest = self._time_at(confirmed)
        now_us = time.time_ns() // 1000 if now_us is None else now_us
        age = (now_us - oldest) / 1e6 if oldest else 0.0
        return Backlog(end - confirmed, records, max(0.0, age))

    def segments(self) -> list[int]:
        with self._cond:
            return list(self._segments)

    def close(self) -> None:
        """Write what is queued, then stop (records stay on disk for the next start)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(30)
        os.close(self._fd)
