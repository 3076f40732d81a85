"""A burst while the ingest log is at its cap is refused with 429 / RESOURCE_EXHAUSTED and
Retry-After, the log never grows past its cap, and everything acknowledged is stored."""

from __future__ import annotations

import threading

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from support import free_port
from test_durability import FlakyStore, batch
from tierscope.client import ApiClient
from tierscope.collector.server.background import BackgroundCollector
from tierscope.collector.server.service import Collector
from tierscope.settings import Settings


def test_burst_past_the_log_cap_is_refused_with_retry_after_and_the_log_stays_bounded(tmp_path):
    settings = Settings(store=f"chdb:{tmp_path / 's'}", http_port=free_port(), grpc_port=free_port(),
                        prices_file="", spool_max_mb=1, alert_interval_s=0)
    store = FlakyStore(settings.store)
    store.down = True  # the store takes nothing: the burst can only go to the log
    with BackgroundCollector(settings, Collector(settings, store=store)) as collector:
        statuses: dict[int, httpx.Response] = {}
        grpc_codes: dict[int, grpc.StatusCode] = {}

        def http_send(n):
            statuses[n] = httpx.post(f"{collector.url}/v1/traces", content=batch(n, spans=200),
                                     headers={"content-type": "application/x-protobuf"}, timeout=60)

        def grpc_send(n):
            with grpc.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
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
        # Whichever protocol got there first, fill what room is left, then both front doors refuse.
        for n in range(101, 111):
            http_send(n)
            if statuses[n].status_code == 429:
                break
        grpc_send(61)
        backlog = collector.collector.log.backlog()
        store.down = False
        stored = ApiClient(collector.url).get("spend")["total"]["spans"]  # waits for the log to drain
    refused = [r for r in statuses.values() if r.status_code == 429]
    ok_http = [n for n, r in statuses.items() if r.status_code == 200]
    ok_grpc = [n for n, c in grpc_codes.items() if c == grpc.StatusCode.OK]
    assert refused and all(r.headers.get("retry-after") == "1" for r in refused)
    assert set(r.status_code for r in statuses.values()) <= {200, 429}
    assert set(grpc_codes.values()) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert grpc_codes[61] == grpc.StatusCode.RESOURCE_EXHAUSTED and statuses[n].status_code == 429
    assert 0 < backlog.bytes <= 1 << 20 and backlog.records == len(ok_http) + len(ok_grpc)
    assert stored == 200 * (len(ok_http) + len(ok_grpc))
