"""Hostile bodies on both front doors: a clear 4xx (or gRPC INVALID_ARGUMENT), never a 5xx, and
nothing of them reaches the ingest log."""

from __future__ import annotations

import gzip
import json
import socket

import grpc
import httpx
import pytest

from support import running_collector

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
DEEP = b"".join([b"\x0a\x80\x01"] * 200)  # nested length prefixes that claim more than is there


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    with running_collector(tmp_path_factory.mktemp("hostile") / "s") as c:
        yield c


@pytest.mark.parametrize("body, headers, status", [
    (b"\x00\xffnot a protobuf\xff" * 10, {}, 400),
    (DEEP, {}, 400),
    (b"{not json", {"content-type": "application/json"}, 400),
    (json.dumps([1, 2]).encode(), {"content-type": "application/json"}, 400),
    (json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}).encode(),
     {"content-type": "application/json"}, 400),
    (b"x" * 10, {"content-encoding": "gzip"}, 400),
    (gzip.compress(b"\x00" * (80 << 20)), {"content-encoding": "gzip"}, 413),
    (b"", {"content-encoding": "br"}, 400),
    (b"abc", {"content-type": "text/plain"}, 400),
])
def test_hostile_http_bodies_are_4xx_and_never_logged(collector, body, headers, status):
    r = httpx.post(f"{collector.url}/v1/traces", content=body,
                   headers={"content-type": "application/x-protobuf", **headers}, timeout=60)
    assert r.status_code == status, r.text[:300]
    assert collector.collector.log.end == 0  # nothing appended


def test_a_declared_length_past_the_cap_is_413_before_the_body_is_read(collector):
    with socket.create_connection(("127.0.0.1", collector.settings.http_port), timeout=30) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                     b"Content-Length: " + str(64 << 20).encode() + b"\r\n\r\nonly a few bytes")
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("body", [b"\x00\xffnot a protobuf\xff", DEEP, b"\x0a\x05\x0a\x03"])
def test_hostile_grpc_bodies_are_invalid_argument(collector, body):
    with grpc.insecure_channel(f"127.0.0.1:{collector.settings.grpc_port}") as channel:
        export = channel.unary_unary(_EXPORT, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as error:
            export(body, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not an OTLP ExportTraceServiceRequest" in error.value.details()
    assert collector.collector.log.end == 0
