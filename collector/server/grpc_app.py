"""OTLP/gRPC receiver (TraceService/Export) on the collector's event loop.

The method takes the request's raw bytes (no deserializer), so gRPC and HTTP share one path:
validate (decode.accept_protobuf) -> ingest log -> ack, and the feeder decodes attributes later.
"""

from __future__ import annotations

import logging

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tierscope.collector.ingest.decode import BadRequest, accept_protobuf
from tierscope.collector.server.auth import Unauthorized
from tierscope.collector.server.service import Collector, export_response
from tierscope.collector.store.wal import LogFull

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class TraceService:
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    async def Export(self, request: bytes, context: grpc.aio.ServicerContext):  # noqa: N802 - gRPC method name
        metadata = dict(context.invocation_metadata() or ())
        try:
            tenant = self.collector.auth.tenant(metadata.get("authorization"))
        except Unauthorized as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        try:
            accepted = accept_protobuf(request)
        except BadRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            await self.collector.export(accepted, tenant=tenant)
        except LogFull as exc:
            await context.send_initial_metadata((("retry-after", str(exc.retry_after)),))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except OSError as exc:  # the log could not be written; nothing was acknowledged
            log.warning("export failed: %s", exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"ingest log unavailable: {exc}"[:200])
        return export_response(accepted)


def create_server(collector: Collector, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
    handler = grpc.unary_unary_rpc_method_handler(
        TraceService(collector).Export, request_deserializer=None,
        response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    return server, bound
