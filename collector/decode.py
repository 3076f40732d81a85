"""OTLP/HTTP request bodies -> ExportTraceServiceRequest: protobuf or JSON, optionally gzip.

Decompression is capped (a gzip bomb is refused, not expanded). OTLP JSON carries trace and span
ids as hex, where protobuf's JSON mapping expects base64, so ids are converted before parsing.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

MAX_BODY_BYTES = 32 * 1024 * 1024  # compressed or not
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024


class BadRequest(ValueError):
    """An undecodable body: the client gets 400 and this message."""


class TooLarge(BadRequest):
    """A body or its decompressed form over the cap: 413."""


def gunzip(body: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected
    try:
        data = inflater.decompress(body, limit)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise TooLarge(f"decompressed body exceeds {limit} bytes")
    return data


def decode_body(body: bytes, content_type: str, content_encoding: str = "") -> ExportTraceServiceRequest:
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"body exceeds {MAX_BODY_BYTES} bytes")
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "deflate"):
        body = gunzip(body)
    elif encoding not in ("", "identity"):
        raise BadRequest(f"unsupported Content-Encoding {content_encoding!r} (use gzip or none)")
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json":
        return parse_json(body)
    if media in ("application/x-protobuf", "application/protobuf", "application/octet-stream", ""):
        return parse_protobuf(body)
    raise BadRequest(f"unsupported Content-Type {content_type!r} (use application/x-protobuf or application/json)")


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
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
