"""`tierscope` with proposed changes to files this benchmark does not own, applied as patches.

For measuring change requests only (`python bench/ingest.py --patched gc,...`);
`make bench` never uses it. Usage: patched_serve.py PATCHES serve [tierscope serve options].
"""

from __future__ import annotations

import sys


def _gc() -> None:
    """server.py: freeze start-up objects and collect young garbage less often."""
    import gc

    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _grpc_raw() -> None:
    """grpc_server.py: hand Export the raw bytes (decoded by decode.decode_traces, not by grpc)."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    from tierscope.collector.server import grpc_app as grpc_server
    from tierscope.collector.ingest.decode import decode_traces

    def add(servicer, server):  # noqa: ANN001
        handler = grpc.unary_unary_rpc_method_handler(
            servicer.Export, request_deserializer=decode_traces,
            response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}),))

    grpc_server.trace_service_pb2_grpc = type("patched", (), {
        "add_TraceServiceServicer_to_server": staticmethod(add),
        "TraceServiceServicer": trace_service_pb2_grpc.TraceServiceServicer})


def _baseline(rev: str = "efefdde") -> None:
    """The ingest hot path (decode, pricing, normalize, rows) as of git revision `rev`, for before/after."""
    import subprocess
    import types
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name in ("decode", "pricing", "normalize", "rows"):  # dependency order
        source = subprocess.run(["git", "-C", str(root), "show", f"{rev}:collector/{name}.py"], capture_output=True,
                                text=True, check=True).stdout
        module = types.ModuleType(f"tierscope.collector.{name}")
        module.__file__ = f"{rev}:collector/{name}.py"
        sys.modules[module.__name__] = module
        exec(compile(source, module.__file__, "exec"), module.__dict__)


PATCHES = {"gc": _gc, "grpc_raw": _grpc_raw, "baseline": _baseline}

if __name__ == "__main__":
    for spec in filter(None, sys.argv[1].split(",")):
        name, _, arg = spec.partition("=")
        PATCHES[name](*([arg] if arg else []))
    sys.argv = ["tierscope", *sys.argv[2:]]
    from tierscope.cli import main

    main()
