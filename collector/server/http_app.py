"""OTLP/HTTP receiver (POST /v1/traces), health check and the read API, as one Starlette app."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

import orjson
from clickhouse_connect.driver.exceptions import OperationalError
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tierscope.collector.alerts import api as alerts_api, budget_api
from tierscope.collector.alerts.api import list_alerts
from tierscope.collector.pricing.reprice import reprice_store
from tierscope.collector.read import api
from tierscope.collector.recommender.api import recommend
from tierscope.collector.recommender.publish import policy_routes
from tierscope.errors import RuleError
from tierscope.collector.ingest.decode import MAX_BODY_BYTES, BadRequest, TooLarge, accept_body
from tierscope.collector.server.auth import Unauthorized
from tierscope.collector.server.service import Collector, export_response
from tierscope.collector.store.reconnect import StoreUnavailable
from tierscope.collector.store.wal import LogFull

log = logging.getLogger(__name__)
PROTOBUF = "application/x-protobuf"


def _otlp_response(request: Request, message: ExportTraceServiceResponse, status: int = 200,
                   headers: dict[str, str] | None = None) -> Response:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = json_format.MessageToJson(message, indent=None)
        return Response(body, status, headers=headers, media_type="application/json")
    return Response(message.SerializeToString(), status, headers=headers, media_type=PROTOBUF)


def _status(request: Request, code: int, text: str, retry_after: int | None = None) -> Response:
    """An OTLP error: a google.rpc.Status-shaped body in the request's encoding."""
    from google.rpc import status_pb2  # shipped with googleapis-common-protos, an OTLP dependency

    headers = {"Retry-After": str(retry_after)} if retry_after else None
    status = status_pb2.Status(code={400: 3, 401: 16, 413: 3, 429: 8, 503: 14}.get(code, 13), message=text)
    if request.headers.get("content-type", "").startswith("application/json"):
        return Response(json_format.MessageToJson(status, indent=None), code, headers=headers,
                        media_type="application/json")
    return Response(status.SerializeToString(), code, headers=headers, media_type=PROTOBUF)


def create_app(collector: Collector) -> Starlette:
    async def traces(request: Request) -> Response:
        try:
            tenant = collector.auth.tenant(request.headers.get("authorization"))
        except Unauthorized as exc:
            return _status(request, 401, str(exc))
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _status(request, 413, f"body exceeds {MAX_BODY_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _status(request, 413, f"body exceeds {MAX_BODY_BYTES} bytes")
        try:
            accepted = accept_body(bytes(body), request.headers.get("content-type", ""),
                                   request.headers.get("content-encoding", ""))
        except TooLarge as exc:
            return _status(request, 413, str(exc))
        except BadRequest as exc:
            return _status(request, 400, str(exc))
        try:
            await collector.export(accepted, tenant=tenant)
        except LogFull as exc:
            return _status(request, 429, str(exc), retry_after=exc.retry_after)
        except OSError as exc:  # the log could not be written (disk full?); nothing was acknowledged
            log.warning("export failed: %s", exc)
            return _status(request, 503, f"ingest log unavailable: {exc}"[:200], retry_after=2)
        return _otlp_response(request, export_response(accepted))

    async def healthz(request: Request) -> Response:
        if not collector.ready:
            return JSONResponse({"status": "starting"}, 503)
        status, detail = collector.health()  # degraded is still up for ingest: not an error status
        return JSONResponse({"status": status, **detail})

    async def stats(request: Request) -> Response:
        try:
            collector.auth.tenant(request.headers.get("authorization"))
        except Unauthorized as exc:
            return JSONResponse({"error": str(exc)}, 401)
        if request.query_params.get("wait") != "0":  # ?wait=0: the counters as they are, backlog and all
            await run_in_threadpool(collector.flush)  # counters that include every span acked before this call
        return JSONResponse({**collector.stats(), "store_memory_bytes": await run_in_threadpool(collector.store_memory),
                             # The rollup refresher (None when it is off): hours recomputed since start, fill
                             # statements begun, and the error of its last tick ("" when it succeeded).
                             "rollup_hours_refreshed": collector.rollup.hours_refreshed if collector.rollup else None,
                             "rollup_statements": collector.rollup.statements if collector.rollup else None,
                             "rollup_error": collector.rollup.last_error if collector.rollup else None})

    settings = collector.settings
    handlers = {**api.endpoints(settings.policy_file, settings.prices_file), "alerts": list_alerts,
                "recommend": partial(recommend, policy_file=settings.policy_file, prices_file=settings.prices_file)}

    def read(name: str):
        handler = handlers[name]

        async def endpoint(request: Request) -> Response:
            params: dict[str, Any] = dict(request.query_params)
            for name in api.FILTER_PARAMS:
                if name in params:
                    params[name] = request.query_params.getlist(name)
            try:
                tenant = collector.auth.tenant(request.headers.get("authorization"))
            except Unauthorized as exc:
                return JSONResponse({"error": str(exc)}, 401)
            try:
                await run_in_threadpool(collector.flush)  # read what was acknowledged before this call
                if "trace_id" in request.path_params:
                    body = await run_in_threadpool(api.trace, collector.store, params, tenant,
                                                   request.path_params["trace_id"])
                else:
                    body = await run_in_threadpool(handler, collector.store, params, tenant)
            except api.BadParameter as exc:
                return JSONResponse({"error": str(exc)}, 400)
            return Response(orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS),
                            media_type="application/json")

        return endpoint

    async def reprice(request: Request) -> Response:
        try:
            collector.auth.tenant(request.headers.get("authorization"))
        except Unauthorized as exc:
            return JSONResponse({"error": str(exc)}, 401)
        since = request.query_params.get("since")
        try:
            if since:
                api.parse_time("since", since, api.EPOCH)
            result = await run_in_threadpool(reprice_store, collector.store, collector.settings, since)
        except (api.BadParameter, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        collector.reload_prices()
        return JSONResponse(result)

    async def alerts_write(request: Request) -> Response:
        try:
            tenant = collector.auth.tenant(request.headers.get("authorization"))
        except Unauthorized as exc:
            return JSONResponse({"error": str(exc)}, 401)
        rule_id, action = request.path_params.get("rule_id"), request.path_params.get("action")
        try:
            if rule_id is None:
                try:
                    body = json.loads(await request.body() or b"null")
                except ValueError:
                    return JSONResponse({"error": "body must be a JSON rule"}, 400)
                result = await run_in_threadpool(alerts_api.arm, collector.store, body, tenant)
            elif action == "disarm":
                result = await run_in_threadpool(alerts_api.disarm, collector.store, rule_id, tenant)
            elif action == "ack":
                result = await run_in_threadpool(alerts_api.acknowledge, collector.store, rule_id, tenant,
                                                 request.query_params.get("by", ""))
            else:
                return JSONResponse({"error": f"unknown action {action!r} (disarm or ack)"}, 404)
        except RuleError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(result)

    routes = [
        Route("/v1/traces", traces, methods=["POST"]),
        Route("/api/v1/alerts/rules", alerts_write, methods=["POST"]),
        Route("/api/v1/alerts/rules/{rule_id}/{action}", alerts_write, methods=["POST"]),
        Route("/api/v1/admin/reprice", reprice, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/v1/stats", stats, methods=["GET"]),
        Route("/api/v1/traces/{trace_id}", read("spans"), methods=["GET"]),
    ]
    routes += [Route(f"/api/v1/{name}", read(name), methods=["GET"]) for name in handlers]
    routes += budget_api.routes(collector) + policy_routes(collector)
    return Starlette(routes=routes, exception_handlers={StoreUnavailable: _store_unavailable,
                                                        OperationalError: _store_unavailable})


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    """A read while the store is down (at startup, or a server that went away): 503, try again later."""
    text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if not text.startswith("store unavailable"):
        text = f"store unavailable: {text}"
    return JSONResponse({"error": text}, 503, headers={"Retry-After": "5"})
