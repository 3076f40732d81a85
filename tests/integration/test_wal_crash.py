"""The ingest log under kill -9 of its process mid-write, mid-fsync and mid-rotation: every record
whose append was acknowledged is there exactly once, in order, and the log appends again.

The child appends records one by one and prints each ack; a hook at the chosen step prints a
marker and blocks, and the parent kills the child right there (SIGKILL: no cleanup runs).
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tierscope.collector.store.wal import WriteAheadLog

CHILD = r"""
import os, sys, time
from tierscope.collector.store import wal as w

directory, step, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = {"write": 0, "fsync": 0, "rotate": 0}

def blocking(name, real):
    def hooked(*args):
        seen[name] += 1
        if name == step and seen[name] > after:
            if name == "write":  # half the bytes reach the file, as when a kill lands mid-write
                fd, data, offset = args
                real(fd, data[: len(data) // 2], offset)
            print("AT", name, flush=True)
            time.sleep(600)
        return real(*args)
    return hooked

w.os.pwrite = blocking("write", os.pwrite)
real_fsync_dir = w.WriteAheadLog._fsync_dir
w.WriteAheadLog._fsync = blocking("fsync", w.WriteAheadLog._fsync)
w.WriteAheadLog._fsync_dir = blocking("rotate", real_fsync_dir)
wal = w.WriteAheadLog(directory, segment_bytes=2500)
for i in range(10_000):
    wal.append(f"record {i} ".encode() * 40).result(30)
    print("ACK", i, flush=True)
"""


@pytest.mark.parametrize("step, after", [("write", 7), ("fsync", 12), ("rotate", 3)])
def test_kill_mid_step_keeps_every_acknowledged_record_once(tmp_path, step, after):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), step, str(after)],
                             stdout=subprocess.PIPE, text=True)
    acked = []
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("AT"):
            child.send_signal(signal.SIGKILL)
            break
        acked.append(int(line.split()[1]))
    child.wait(30)
    assert child.returncode == -signal.SIGKILL and acked
    wal = WriteAheadLog(tmp_path, segment_bytes=2500)
    if step == "write":
        assert wal.cut_bytes > 0  # the half-written record was found and cut
    got = [r.payload for r in wal.read(wal.confirmed, 1 << 30)]
    expected = [f"record {i} ".encode() * 40 for i in acked]
    assert got[: len(acked)] == expected  # every acked record, once, in order
    assert len(got) - len(acked) <= 1  # at most the one in flight (written, never acknowledged)
    wal.append(b"after the crash").result(10)
    assert wal.read(wal.confirmed, 1 << 30)[-1].payload == b"after the crash"
    if step == "rotate":
        assert len(wal.segments()) >= 2
    wal.close()
