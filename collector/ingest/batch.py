"""Ingest-log records <-> accepted requests, and a batch of records -> the store's Arrow rows.

A record's payload is the tenant and the request's protobuf encoding (JSON bodies are re-encoded
at the front door), so the store feeder does the expensive part (attribute decode, normalize,
price, Arrow) once per batch of tens of thousands of spans, off the acknowledgement path.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from tierscope.collector.ingest.decode import BadRequest, DecodedTraces, decode_traces, decoded, parse_protobuf
from tierscope.collector.ingest.normalize import MAX_REASONS, Normalized, TierResolver, normalize
from tierscope.collector.ingest.rows import quality_table, spans_table
from tierscope.collector.pricing.prices import Pricer, unknown_service_tiers
from tierscope.collector.store.wal_format import Record

_TENANT = struct.Struct("<H")


def pack(tenant: str, body: bytes) -> bytes:
    """A record payload: u16 tenant length, tenant (UTF-8), OTLP protobuf body."""
    name = tenant.encode()
    return _TENANT.pack(len(name)) + name + body


def unpack(payload: bytes) -> tuple[str, bytes]:
    (size,) = _TENANT.unpack_from(payload, 0)
    return payload[2:2 + size].decode(), payload[2 + size:]


@dataclass
class Built:
    """One feeder batch, ready to insert, with what normalize counted on the way."""

    spans: pa.Table
    quality: pa.Table
    non_llm: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    damaged_records: int = 0  # records that no longer decode (a damaged log): counted, not retried
    unknown_service_tiers: dict[str, int] = field(default_factory=dict)  # priced at the default, by value


def merge_reasons(reasons: dict[str, int], more: dict[str, int]) -> None:
    """Add `more`'s counts to `reasons`, keeping at most MAX_REASONS distinct reasons."""
    for reason, n in more.items():
        if reason in reasons or len(reasons) < MAX_REASONS:
            reasons[reason] = reasons.get(reason, 0) + n


def stamps(records: Sequence[Record]) -> dict[str, int]:
    """Each tenant's row stamp for a batch: the append time of its newest record there."""
    out: dict[str, int] = {}
    for record in records:
        try:
            tenant = unpack(record.payload)[0]
        except (struct.error, UnicodeDecodeError):
            continue  # a damaged record: `build` counts it
        out[tenant] = max(out.get(tenant, 0), record.time_us)
    return out


def build(records: Sequence[Record], pricer: Pricer, resolve_tier: TierResolver | None = None,
          keep_content: bool = False, stamp: dict[str, int] | None = None) -> Built:
    """Normalize, price and tabulate a batch of records (one table per tenant, concatenated).

    Rows are stamped with the append time of the batch's newest record, so a replayed batch
    writes the same keys again and the store keeps one copy; a part of a batch built on its own
    gets the whole batch's `stamp` (`stamps`). A record that no longer decodes (a damaged log) is
    counted, never retried forever.
    """
    by_tenant: dict[str, Normalized] = {}
    stamp = stamps(records) if stamp is None else stamp
    damaged = 0
    for record in records:
        try:
            tenant, body = unpack(record.payload)
            traces = _decode(body)
        except (BadRequest, struct.error, UnicodeDecodeError):
            damaged += 1
            continue
        out = by_tenant.setdefault(tenant, Normalized())
        normalize(traces, resolve_tier=resolve_tier, keep_content=keep_content, out=out)
    spans = [spans_table(rows, tenant, pricer, stamp[tenant]) for tenant, rows in by_tenant.items()]
    quality = [quality_table(rows, tenant, stamp[tenant]) for tenant, rows in by_tenant.items()]
    built = Built(_concat(spans) if spans else spans_table(Normalized(), "", pricer, 0),
                  _concat(quality) if quality else quality_table(Normalized(), "", 0))
    for rows in by_tenant.values():
        built.non_llm += rows.non_llm
        built.rejected += rows.rejected
        merge_reasons(built.reasons, rows.reasons)
        for tier, n in unknown_service_tiers(Counter(rows.spans["service_tier"]).items()).items():
            built.unknown_service_tiers[tier] = built.unknown_service_tiers.get(tier, 0) + n
    built.damaged_records = damaged
    return built


def merge(parts: list[Built]) -> Built:
    """One batch from its parts built apart (`stamps` gave them the batch's stamps)."""
    if len(parts) == 1:
        return parts[0]
    spans = [p.spans for p in parts if p.spans.num_rows] or [parts[0].spans]
    quality = [p.quality for p in parts if p.quality.num_rows] or [parts[0].quality]
    out = Built(_concat(spans), _concat(quality))
    for p in parts:
        out.non_llm += p.non_llm
        out.rejected += p.rejected
        out.damaged_records += p.damaged_records
        merge_reasons(out.reasons, p.reasons)
        for tier, n in p.unknown_service_tiers.items():
            out.unknown_service_tiers[tier] = out.unknown_service_tiers.get(tier, 0) + n
    return out


def _decode(body: bytes) -> DecodedTraces:
    try:
        return decode_traces(body)
    except BadRequest:  # past the fast parser's nesting limit: the object-by-object path
        return decoded(parse_protobuf(body))


def _concat(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
