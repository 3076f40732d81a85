"""A server that acknowledges OTLP at once and keeps nothing: the floor ack latency is measured against.

Same stack as the collector's front doors (uvicorn + Starlette for OTLP/HTTP, grpc.aio for
OTLP/gRPC, one event loop), reading the whole body and answering an empty
ExportTraceServiceResponse, so the difference to the collector is what the collector does.
Run: `python bench/instant_sink.py HTTP_PORT GRPC_PORT`.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_EMPTY = ExportTraceServiceResponse().SerializeToString()
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


async def traces(request: Request) -> Response:
    await request.body()
    return Response(_EMPTY, media_type="application/x-protobuf")


async def healthz(request: Request) -> Response:
    return Response("{}", media_type="application/json")


async def export(request: bytes, context: grpc.aio.ServicerContext) -> ExportTraceServiceResponse:
    return ExportTraceServiceResponse()


async def main(http_port: int, grpc_port: int) -> None:
    app = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"]), Route("/healthz", healthz)])
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    handler = grpc.unary_unary_rpc_method_handler(export, request_deserializer=None,
                                                  response_serializer=ExportTraceServiceResponse.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
    server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    await server.start()
    config = uvicorn.Config(app, host="127.0.0.1", port=http_port, log_level="warning", access_log=False,
                            lifespan="off")
    await uvicorn.Server(config).serve()
    await server.stop(0)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
