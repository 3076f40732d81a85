"""An fsync'd on-disk spool for accepted rows the store could not take (yet).

When an insert fails, the writer puts the batch here and only then acknowledges it, so an OTLP
success always means "in the store or on disk". The writer drains the spool into the store as soon
as the store answers again (and at start, after a crash). Bounded: when full, clients get 503 with
Retry-After instead of an unbounded disk. Each entry is one Arrow IPC file per table, written to a
temporary name, fsync'd, then renamed, so a crash never leaves half an entry behind.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
from tierscope.errors import SpoolFull

log = logging.getLogger(__name__)
TABLES = ("llm_spans", "quality_events")


class Spool:
    def __init__(self, directory: str | Path, max_bytes: int = 1 << 30) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        for leftover in self.directory.glob("*.tmp"):  # a crash mid-write: never acknowledged
            leftover.unlink(missing_ok=True)
        entries = self.entries()
        self._seq = (int(entries[-1].name) + 1) if entries else 0
        self._bytes = sum(f.stat().st_size for f in self.directory.glob("*/*.arrow"))

    @property
    def bytes(self) -> int:
        return self._bytes

    def entries(self) -> list[Path]:
        return sorted((p for p in self.directory.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))

    def __len__(self) -> int:
        return len(self.entries())

    def put(self, tables: dict[str, pa.Table]) -> None:
        """Durably store one batch; raises SpoolFull past max_bytes."""
        size = sum(t.nbytes for t in tables.values())
        with self._lock:
            if self._bytes + size > self.max_bytes:
                raise SpoolFull(self.max_bytes)
            seq = self._seq
            self._seq += 1
        tmp = self.directory / f"{seq:020d}.tmp"
        tmp.mkdir()
        written = 0
        for name, table in tables.items():
            if table.num_rows == 0:
                continue
            path = tmp / f"{name}.arrow"
            with open(path, "wb") as raw:
                with ipc.new_file(raw, table.schema) as writer:
                    writer.write_table(table)
                raw.flush()
                os.fsync(raw.fileno())
            written += path.stat().st_size
        _fsync_dir(tmp)
        tmp.rename(self.directory / f"{seq:020d}")
        _fsync_dir(self.directory)
        with self._lock:
            self._bytes += written

    def drain(self, insert) -> int:
        """Insert every entry, oldest first, with `insert(table_name, table)`; returns rows drained.

        Stops at the first failure (the store is still down); what was drained is gone from disk.
        Re-inserting an entry twice (a crash between insert and unlink) is harmless: rows are keyed.
        """
        rows = 0
        for entry in self.entries():
            files = {name: entry / f"{name}.arrow" for name in TABLES if (entry / f"{name}.arrow").exists()}
            size = 0
            for name, path in files.items():
                with pa.memory_map(str(path)) as source:
                    table = ipc.open_file(source).read_all()
                insert(name, table)
                rows += table.num_rows
                size += path.stat().st_size
            for path in files.values():
                path.unlink()
            entry.rmdir()
            with self._lock:
                self._bytes -= size
        return rows


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
