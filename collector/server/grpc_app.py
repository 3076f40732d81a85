"""OTLP/gRPC receiver (TraceService/Export) on the collector's event loop."""

from __future__ import annotations

import logging

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tierscope.collector.server.auth import Unauthorized
from tierscope.collector.server.service import Collector
from tierscope.collector.store.writer import Overloaded

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    async def Export(self, request, context):  # noqa: N802 - gRPC method name
        metadata = dict(context.invocation_metadata() or ())
        try:
            tenant = self.collector.auth.tenant(metadata.get("authorization"))
        except Unauthorized as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        try:
            result = await self.collector.export(request, tenant=tenant)
        except Overloaded as exc:
            await context.send_initial_metadata((("retry-after", str(exc.retry_after)),))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except Exception as exc:  # the store failed; nothing was acknowledged
            log.warning("export failed: %s", exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"store unavailable: {str(exc).splitlines()[0][:200]}")
        response = trace_service_pb2.ExportTraceServiceResponse()
        if result.rejected or result.message:
            response.partial_success.rejected_spans = result.rejected
            response.partial_success.error_message = result.message
        return response


def create_server(collector: Collector, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(collector), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    return server, bound
