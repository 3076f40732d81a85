"""OTLP/HTTP request bodies -> spans with decoded attributes: protobuf or JSON, optionally gzip.

Decompression is capped (a gzip bomb is refused, not expanded). OTLP JSON carries trace and span
ids as hex, where protobuf's JSON mapping expects base64, so ids are converted before parsing.
Protobuf bodies take a fast path (`decode_traces`, below) that never builds a Python object per
attribute; it accepts and rejects exactly the bodies `ExportTraceServiceRequest` does.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from dataclasses import dataclass, field
from collections.abc import Iterable
from itertools import chain
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from tierscope.errors import BadRequest, TooLarge

MAX_BODY_BYTES = 32 * 1024 * 1024  # compressed or not
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024


def gunzip(body: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected
    try:
        data = inflater.decompress(body, limit)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise TooLarge(f"decompressed body exceeds {limit} bytes")
    return data


def _inflate(body: bytes, content_type: str, content_encoding: str) -> tuple[bytes, bool]:
    """The body under its size caps, gunzipped if need be, and whether it is JSON (else protobuf)."""
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"body exceeds {MAX_BODY_BYTES} bytes")
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "deflate"):
        body = gunzip(body)
    elif encoding not in ("", "identity"):
        raise BadRequest(f"unsupported Content-Encoding {content_encoding!r} (use gzip or none)")
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json":
        return body, True
    if media in ("application/x-protobuf", "application/protobuf", "application/octet-stream", ""):
        return body, False
    raise BadRequest(f"unsupported Content-Type {content_type!r} (use application/x-protobuf or application/json)")


def decode_body(body: bytes, content_type: str, content_encoding: str = "") -> DecodedTraces:
    body, is_json = _inflate(body, content_type, content_encoding)
    return decoded(parse_json(body)) if is_json else decode_traces(body)


@dataclass(frozen=True)
class Accepted:
    """What the ingest log keeps of a request (its protobuf encoding), and what the ack reports."""

    body: bytes
    spans: int
    rejected: int = 0  # spans invalid at decode time (partial_success); the feeder skips them too
    message: str = ""


def accept_body(body: bytes, content_type: str, content_encoding: str = "") -> Accepted:
    """Validate a body as the ack path must (size caps, gzip, JSON or protobuf that parses as an
    ExportTraceServiceRequest, span ids and start times) without decoding attributes: that is
    the store feeder's work."""
    body, is_json = _inflate(body, content_type, content_encoding)
    return accept_protobuf(parse_json(body).SerializeToString() if is_json else body)


def accept_protobuf(body: bytes) -> Accepted:
    """An OTLP protobuf body parsed as the fast path's view; raises BadRequest if it is not one."""
    view = _parsed(_VIEW(), body)
    spans = [span for rs in view.resource_spans for ss in rs.scope_spans for span in ss.spans]
    reasons: dict[str, int] = {}
    for span in spans:
        reason = structural_problem(span)
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1
    message = "; ".join(f"{n} rejected: {r}" for r, n in reasons.items())
    return Accepted(body, len(spans), sum(reasons.values()), message)


def structural_problem(span: Any) -> str:
    """Why a span cannot be stored whatever its attributes say ("" when its ids and start are fine)."""
    if len(span.trace_id) != 16 or span.trace_id == _ZERO_TRACE:
        return "trace_id must be 16 bytes, not all zero"
    if len(span.span_id) != 8 or span.span_id == _ZERO_SPAN:
        return "span_id must be 8 bytes, not all zero"
    if len(span.parent_span_id) not in (0, 8):
        return "parent_span_id must be empty or 8 bytes"
    if span.start_time_unix_nano == 0:
        return "start_time_unix_nano is missing"
    return ""


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    return _parsed(ExportTraceServiceRequest(), body)


def _parsed(request: Any, body: bytes) -> Any:
    """`request` (an empty ExportTraceServiceRequest, or its view) parsed from `body`; BadRequest if it fails."""
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise BadRequest(f"body is not an OTLP ExportTraceServiceRequest: {exc}") from None
    return request


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object")
    _hex_ids_to_base64(doc)
    try:
        return json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise BadRequest(f"body is not OTLP JSON: {exc}") from None


def any_value(value: Any) -> Any:
    """An OTLP AnyValue message as a plain Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    """OTLP KeyValue messages as {key: value} (a repeated key keeps its first place, its last value)."""
    return {kv.key: any_value(kv.value) for kv in key_values}


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(doc: dict[str, Any]) -> None:
    for rs in _list(doc.get("resourceSpans", doc.get("resource_spans"))):
        for ss in _list(rs.get("scopeSpans", rs.get("scope_spans"))) if isinstance(rs, dict) else ():
            for span in _list(ss.get("spans")) if isinstance(ss, dict) else ():
                if not isinstance(span, dict):
                    continue
                for item in [span, *[link for link in _list(span.get("links")) if isinstance(link, dict)]]:
                    for key in _ID_KEYS:
                        value = item.get(key)
                        if isinstance(value, str) and value:
                            item[key] = _hex_to_base64(value)


def _hex_to_base64(value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        try:  # already base64 (some exporters); keep it if it decodes
            base64.b64decode(value, validate=True)
            return value
        except (binascii.Error, ValueError):
            return ""  # an empty id: normalize rejects this one span, the rest are kept


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- the fast path: decoded spans without a Python object per attribute ----------------------------
#
# Reading attributes through the protobuf objects costs ~2 µs per KeyValue (a wrapper object for the
# KeyValue, one for its AnyValue, the oneof lookup); a span has ~20. Instead the body is parsed with
# a *view* of the same schema in which Span.attributes is `repeated bytes` (the wire format of a
# repeated message and of repeated bytes is identical), and each KeyValue is decoded from its bytes:
# the canonical encodings every exporter writes by hand below, through a bounded cache (most
# attributes repeat from span to span), anything else by the real KeyValue parser. Every other field
# keeps its real type, so the view accepts and rejects exactly the bodies the real message does.


@dataclass
class DecodedTraces:
    """A validated ExportTraceServiceRequest whose span attributes are plain Python values.

    `resources[r]` is resource r's attributes; `spans[r]` its spans (every scope's, in order), each a
    read-only message with the OTLP Span fields except `attributes`; `span_attributes[r][i]` is span
    i's attributes as `{key: value}`, equal to `attributes(span.attributes)` on the real
    message (same keys in the same order, same values).
    """

    resources: list[dict[str, Any]]
    spans: list[list[Any]]
    span_attributes: list[list[dict[str, Any]]]
    span_scopes: list[list[str]] = field(default_factory=list)  # instrumentation scope name per span

    @property
    def span_count(self) -> int:
        return sum(map(len, self.spans))


def _view_request_class() -> type:
    """ExportTraceServiceRequest with Span.attributes as raw bytes, in a private descriptor pool."""
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    view = descriptor_pb2.FileDescriptorProto(name="tierscope/otlp_view.proto", package="tierscope.otlp_view",
                                              syntax="proto3", dependency=[trace_pb2.DESCRIPTOR.name])
    own = ".tierscope.otlp_view."
    retype = {  # message -> {field: view message, or None for bytes}
        trace_pb2.Span: {"attributes": None},
        trace_pb2.ScopeSpans: {"spans": own + "Span"},
        trace_pb2.ResourceSpans: {"scope_spans": own + "ScopeSpans"},
        ExportTraceServiceRequest: {"resource_spans": own + "ResourceSpans"},
    }
    for message, fields in retype.items():
        proto = view.message_type.add()
        message.DESCRIPTOR.CopyToProto(proto)
        del proto.nested_type[:], proto.enum_type[:]  # fields keep pointing at the real nested types
        for field in proto.field:
            if field.name in fields:
                if fields[field.name] is None:
                    field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    field.ClearField("type_name")
                else:
                    field.type_name = fields[field.name]
    pool.Add(view)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tierscope.otlp_view.ExportTraceServiceRequest"))


_VIEW = _view_request_class()
_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)
_KV_CACHE: dict[bytes, tuple[str, Any]] = {}
_KV_CACHE_MAX = 50_000  # ~10 MB; unique values (response ids) would otherwise grow it forever
_DOUBLE = struct.Struct("<d")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); raises IndexError past the end or past 64 bits."""
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >> 64:
                raise IndexError("varint over 64 bits")
            return result, pos
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")


def _key_value(kv: bytes) -> tuple[str, Any]:
    """One KeyValue's (key, value), as `any_value` gives it; raises BadRequest if invalid.

    Decodes the canonical encoding (key, then an AnyValue holding one scalar) by hand and leaves
    anything else (arrays, key-value lists, fields repeated or out of order) to the real parser.
    """
    try:
        if kv[0] != 0x0A:
            raise LookupError
        size, start = (kv[1], 2) if kv[1] < 0x80 else _varint(kv, 1)
        end = start + size
        key = kv[start:end].decode()  # strict UTF-8, as protobuf checks it
        if end == len(kv):
            value = None  # no AnyValue: unset
        else:
            if kv[end] != 0x12:
                raise LookupError
            size, at = (kv[end + 1], end + 2) if kv[end + 1] < 0x80 else _varint(kv, end + 1)
            if at + size != len(kv):
                raise LookupError
            value = _scalar(kv, at) if size else None
    except (LookupError, UnicodeDecodeError):
        key, value = _key_value_parsed(kv)
    pair = (key, value)
    if len(_KV_CACHE) >= _KV_CACHE_MAX:
        _KV_CACHE.clear()
    _KV_CACHE[kv] = pair
    return pair


def _scalar(kv: bytes, at: int) -> Any:
    """The AnyValue filling kv[at:] when it holds exactly one scalar field; else LookupError."""
    tag = kv[at]
    if tag == 0x0A or tag == 0x3A:  # string_value, bytes_value
        size, start = (kv[at + 1], at + 2) if kv[at + 1] < 0x80 else _varint(kv, at + 1)
        if start + size != len(kv):
            raise LookupError
        return kv[start:].decode() if tag == 0x0A else kv[start:]
    if tag == 0x18 or tag == 0x10:  # int_value, bool_value
        value, end = _varint(kv, at + 1)
        if end != len(kv):
            raise LookupError
        if tag == 0x10:
            return value != 0
        return value - (1 << 64) if value >= 1 << 63 else value
    if tag == 0x21 and at + 9 == len(kv):  # double_value
        return _DOUBLE.unpack_from(kv, at + 1)[0]
    raise LookupError


def _key_value_parsed(kv: bytes) -> tuple[str, Any]:
    """The real parser, at the depth the attribute has inside a request (so nesting limits match)."""
    request = parse_protobuf(_field(1, _field(2, _field(2, _field(9, kv)))))
    attribute = request.resource_spans[0].scope_spans[0].spans[0].attributes[0]
    return attribute.key, any_value(attribute.value)


def _field(number: int, payload: bytes) -> bytes:
    size, head = len(payload), bytearray([number << 3 | 2])
    while size >= 0x80:
        head.append(size & 0x7F | 0x80)
        size >>= 7
    head.append(size)
    return bytes(head) + payload


def _misses(pairs: list[Any]) -> Iterable[int]:
    """Positions of None in `pairs`, found by list.index (a C loop: most attributes are cached)."""
    at = -1
    while True:
        try:
            at = pairs.index(None, at + 1)
        except ValueError:
            return
        yield at


def decode_traces(body: bytes) -> DecodedTraces:
    """Parse and validate an OTLP protobuf body into spans with decoded attributes."""
    view = _parsed(_VIEW(), body)
    resources, spans_by_resource, attributes_by_resource, scopes_by_resource = [], [], [], []
    cached = _KV_CACHE.get
    for resource_spans in view.resource_spans:
        resources.append(attributes(resource_spans.resource.attributes))
        spans = [span for scope_spans in resource_spans.scope_spans for span in scope_spans.spans]
        scopes_by_resource.append([ss.scope.name for ss in resource_spans.scope_spans for _ in ss.spans])
        lists = [span.attributes for span in spans]
        flat = list(chain.from_iterable(lists))
        pairs = list(map(cached, flat))
        for miss in _misses(pairs):
            pairs[miss] = _key_value(flat[miss])
        dicts, end = [], 0
        for size in map(len, lists):
            start, end = end, end + size
            dicts.append(dict(pairs[start:end]))
        spans_by_resource.append(spans)
        attributes_by_resource.append(dicts)
    return DecodedTraces(resources, spans_by_resource, attributes_by_resource, scopes_by_resource)


def decoded(request: ExportTraceServiceRequest | DecodedTraces) -> DecodedTraces:
    """The decoded form of an already-parsed request (gRPC, JSON, tests): re-encoded, then decoded,
    which is ~10x cheaper than reading its attributes through the message objects."""
    if isinstance(request, DecodedTraces):
        return request
    try:
        return decode_traces(request.SerializeToString())
    except BadRequest:  # built in code past a parser limit (nesting depth): read it object by object
        spans = [[span for ss in rs.scope_spans for span in ss.spans] for rs in request.resource_spans]
        return DecodedTraces([attributes(rs.resource.attributes) for rs in request.resource_spans], spans,
                             [[attributes(span.attributes) for span in group] for group in spans],
                             [[ss.scope.name for ss in rs.scope_spans for _ in ss.spans] for rs in request.resource_spans])
