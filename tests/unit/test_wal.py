"""The ingest log in isolation: record format, torn tails, replay, segments, checkpoint, cap."""

from __future__ import annotations

import threading

import pytest

from tierscope.collector.store import wal_format as fmt
from tierscope.collector.store.wal import LogFull, WriteAheadLog


def test_records_round_trip_and_a_torn_or_corrupt_tail_stops_the_scan() -> None:
    data = fmt.encode(b"alpha", 11) + fmt.encode(b"", 12) + fmt.encode(b"gamma" * 100, 13)
    records, valid = fmt.scan(data, base=1000)
    assert [(r.payload, r.time_us) for r in records] == [(b"alpha", 11), (b"", 12), (b"gamma" * 100, 13)]
    assert valid == len(data) and records[-1].end == 1000 + len(data)
    second = len(fmt.encode(b"alpha", 11))
    for cut in range(second + 1, len(data)):  # every torn tail keeps the records before it
        kept, at = fmt.scan(data[:cut])
        assert [r.payload for r in kept] == [b"alpha", b""][: len(kept)] and at <= cut
        assert at == sum(len(fmt.encode(r.payload, 0)) for r in kept)
    flipped = bytearray(data)
    flipped[-1] ^= 1  # a damaged payload byte
    assert [r.payload for r in fmt.scan(bytes(flipped))[0]] == [b"alpha", b""]
    flipped = bytearray(data)
    flipped[second + 8] ^= 1  # a damaged time stamp is caught too
    assert [r.payload for r in fmt.scan(bytes(flipped))[0]] == [b"alpha"]


def test_segment_names_and_checkpoints() -> None:
    assert fmt.segment_position(fmt.segment_name(12345)) == 12345
    assert fmt.segment_position("checkpoint") is None and fmt.segment_position("123.seg") is None
    assert fmt.decode_checkpoint(fmt.encode_checkpoint(77)) == 77
    damaged = bytearray(fmt.encode_checkpoint(77))
    damaged[0] ^= 1
    assert fmt.decode_checkpoint(bytes(damaged)) is None and fmt.decode_checkpoint(b"") is None


def _append_all(wal: WriteAheadLog, payloads: list[bytes]) -> None:
    for i, payload in enumerate(payloads):  # one at a time: one group commit each
        wal.append(payload, time_us=i).result(10)


def test_replay_returns_unconfirmed_records_across_segments_and_confirm_deletes_segments(tmp_path) -> None:
    payloads = [bytes([i]) * 300 for i in range(40)]
    wal = WriteAheadLog(tmp_path, segment_bytes=1000)
    _append_all(wal, payloads)
    assert len(wal.segments()) > 5
    first = wal.read(wal.confirmed, 1000)
    assert [r.payload for r in first] == payloads[: len(first)] and 0 < len(first) < 40
    wal.confirm(first[-1].end, len(first))
    wal.close()
    reopened = WriteAheadLog(tmp_path, segment_bytes=1000)
    rest = reopened.read(reopened.confirmed, 1 << 20)
    assert [r.payload for r in rest] == payloads[len(first):]
    assert reopened.backlog(now_us=10**6).records == 40 - len(first)
    reopened.confirm(rest[-1].end, len(rest))
    assert len(reopened.segments()) == 1 and reopened.backlog().bytes == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [fmt.segment_name(reopened.segments()[0]), "checkpoint"]
    reopened.close()


def test_a_torn_tail_is_cut_on_open_and_the_log_appends_after_the_last_whole_record(tmp_path) -> None:
    wal = WriteAheadLog(tmp_path)
    _append_all(wal, [b"one", b"two"])
    wal.close()
    segment = tmp_path / fmt.segment_name(0)
    with open(segment, "r+b") as f:
        f.seek(wal.end)
        f.write(fmt.encode(b"three, half written", 3)[:9])  # what a kill mid-write leaves
    wal = WriteAheadLog(tmp_path)
    assert wal.cut_bytes == 9
    _append_all(wal, [b"four"])
    assert [r.payload for r in wal.read(0, 1 << 20)] == [b"one", b"two", b"four"]
    wal.close()


def test_a_damaged_record_inside_the_log_is_stepped_over_as_one_empty_record(tmp_path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=100)
    _append_all(wal, [b"a" * 80, b"b" * 80, b"c" * 80])
    first, second = wal.segments()[:2]
    with open(tmp_path / fmt.segment_name(first), "r+b") as f:
        f.seek(20)
        f.write(b"X")
    records = wal.read(0, 1 << 20)
    assert [r.payload for r in records] == [b"", b"b" * 80, b"c" * 80] and records[0].end == second
    wal.close()


def test_the_cap_refuses_appends_until_the_store_confirms(tmp_path) -> None:
    wal = WriteAheadLog(tmp_path, max_bytes=1000)
    _append_all(wal, [b"x" * 400, b"y" * 400])
    with pytest.raises(LogFull, match="retry after 1s"):
        wal.append(b"z" * 400)
    records = wal.read(0, 1 << 20)
    wal.confirm(records[0].end, 1)
    _append_all(wal, [b"z" * 400])
    wal.close()


def test_concurrent_appends_share_fsyncs_and_keep_every_record(tmp_path) -> None:
    wal = WriteAheadLog(tmp_path)
    barrier = threading.Barrier(8)

    def writer(k: int) -> None:
        barrier.wait()
        for i in range(50):
            wal.append(f"{k}:{i}".encode()).result(10)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = [r.payload.decode() for r in wal.read(0, 1 << 30)]
    assert sorted(got) == sorted(f"{k}:{i}" for k in range(8) for i in range(50))
    for k in range(8):  # each writer's records in its own order
        assert [g for g in got if g.startswith(f"{k}:")] == [f"{k}:{i}" for i in range(50)]
    assert wal.fsyncs <= 400
    wal.close()
    assert WriteAheadLog(tmp_path).end == wal.end  # reopened: the preallocated space is not records
