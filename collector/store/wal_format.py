"""The ingest log's on-disk format: records, segment names, the checkpoint. Pure: bytes in, bytes out.

A record is a 16-byte header and a payload:

    u32 payload length | u32 CRC-32 of (time + payload) | u64 append time (µs since the epoch) | payload

A segment is records back to back, with no header of its own; its file name is the log position
(byte offset over the whole log, "LSN") of its first byte, so positions stay valid across segments
and the backlog in bytes is a subtraction. A kill mid-write leaves a torn tail: a short header, a
short payload or a CRC that does not match. `scan` stops at the first such record, so the caller
keeps everything before it and cuts the rest.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

HEADER = struct.Struct("<IIQ")
MAX_PAYLOAD = 256 * 1024 * 1024  # larger than any accepted request; a bigger length is corruption
SEGMENT_SUFFIX = ".seg"
_CHECKPOINT = struct.Struct("<QI")


@dataclass(frozen=True, slots=True)
class Record:
    end: int  # log position just past this record (what a reader confirms once the record is stored)
    time_us: int
    payload: bytes


def encode(payload: bytes, time_us: int) -> bytes:
    """One record, header and payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"record payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    stamp = struct.pack("<Q", time_us)
    return HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(stamp)), time_us) + payload


def scan(data: bytes | memoryview, base: int = 0) -> tuple[list[Record], int]:
    """The whole, valid records at the start of `data` and the offset where they end.

    `base` is the log position of data[0]; Record.end is a log position. The returned offset is
    relative to `data`: anything past it is a torn or corrupt tail (or the start of a record that
    did not fit in `data`).
    """
    records, at, view = [], 0, memoryview(data)
    while at + HEADER.size <= len(view):
        length, crc, time_us = HEADER.unpack_from(view, at)
        start, end = at + HEADER.size, at + HEADER.size + length
        if length > MAX_PAYLOAD or end > len(view):
            break
        payload = bytes(view[start:end])
        if zlib.crc32(payload, zlib.crc32(view[at + 8:start])) != crc:
            break
        records.append(Record(base + end, time_us, payload))
        at = end
    return records, at


def needed(data: bytes | memoryview) -> int:
    """Bytes the first record in `data` occupies (header + payload), or HEADER.size if unknown yet."""
    if len(data) < HEADER.size:
        return HEADER.size
    length = HEADER.unpack_from(data, 0)[0]
    return HEADER.size + min(length, MAX_PAYLOAD + 1)


def segment_name(position: int) -> str:
    return f"{position:020d}{SEGMENT_SUFFIX}"


def segment_position(name: str) -> int | None:
    """The start position a segment file name encodes, or None for any other file."""
    stem = name[:-len(SEGMENT_SUFFIX)] if name.endswith(SEGMENT_SUFFIX) else ""
    return int(stem) if len(stem) == 20 and stem.isdigit() else None


def encode_checkpoint(position: int) -> bytes:
    raw = struct.pack("<Q", position)
    return _CHECKPOINT.pack(position, zlib.crc32(raw))


def decode_checkpoint(data: bytes) -> int | None:
    """The confirmed position a checkpoint file holds, or None if it is damaged or empty."""
    if len(data) != _CHECKPOINT.size:
        return None
    position, crc = _CHECKPOINT.unpack(data)
    return position if zlib.crc32(struct.pack("<Q", position)) == crc else None
