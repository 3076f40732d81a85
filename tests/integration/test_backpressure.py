"""Issue 5: a burst far above capacity is refused with 429/RESOURCE_EXHAUSTED and Retry-After, the
queue never grows past its cap, and everything acknowledged is stored."""

from __future__ import annotations

import threading

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from support import running_collector
from test_durability import batch
from tierscope.client import ApiClient


def test_burst_is_refused_with_retry_after_and_the_queue_stays_bounded(tmp_path):
    cap = 1_000
    with running_collector(tmp_path / "s", max_pending_spans=cap, linger_ms=300) as collector:
        statuses: dict[int, httpx.Response] = {}
        grpc_codes: dict[int, grpc.StatusCode] = {}

        def http_send(n):
            statuses[n] = httpx.post(f"{collector.url}/v1/traces", content=batch(n, spans=200),
                                     headers={"content-type": "application/x-protobuf"}, timeout=60)

        def grpc_send(n):
            with grpc.insecure_channel(f"127.0.0.1:{collector.settings.grpc_port}") as channel:
                stub = trace_service_pb2_grpc.TraceServiceStub(channel)
                try:
                    stub.Export(ExportTraceServiceRequest.FromString(batch(n, spans=200)), timeout=60)
                    grpc_codes[n] = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    grpc_codes[n] = exc.code()

        threads = [threading.Thread(target=http_send, args=(n,)) for n in range(1, 41)]
        threads += [threading.Thread(target=grpc_send, args=(n,)) for n in range(41, 61)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = httpx.get(f"{collector.url}/api/v1/stats").json()
        stored = ApiClient(collector.url).get("spend")["total"]["spans"]
    refused = [r for r in statuses.values() if r.status_code == 429]
    ok_http = [n for n, r in statuses.items() if r.status_code == 200]
    ok_grpc = [n for n, c in grpc_codes.items() if c == grpc.StatusCode.OK]
    assert refused and all(r.headers.get("retry-after") == "1" for r in refused)
    assert set(statuses[n].status_code for n in statuses) <= {200, 429}
    assert set(grpc_codes.values()) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in grpc_codes.values()
    assert stats["max_pending_seen"] <= cap
    assert stored == 200 * (len(ok_http) + len(ok_grpc))
