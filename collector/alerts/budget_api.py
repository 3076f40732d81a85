"""The budgets endpoints, per tenant: GET /api/v1/budgets (each budget's month: spend to date,
forecast with its interval, unpriced calls, notices sent), POST a budget (create or replace the
scope's), DELETE /api/v1/budgets?budget_id=... . Bad input is one 400 naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tierscope import clock
from tierscope.collector.alerts.budget_runs import budget_status, budgets, current_month, save_budget
from tierscope.collector.alerts.budgets import Budget
from tierscope.collector.read.months import month_bounds
from tierscope.collector.read.rows import jsonable
from tierscope.collector.store.clickhouse import Store
from tierscope.errors import BadParameter, Unauthorized


def list_budgets(store: Store, q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    """Every budget's status for `month` (default: the month now is in, in each budget's zone):
    spent_usd to now, forecast_usd (the run rate: spend so far x month length / time elapsed) and
    forecast_low_usd/high_usd (a 90% interval from the spread of the month's complete days; null
    before two have passed; see collector.alerts.budgets), unpriced_spans beside, and the notices."""
    month = q.get("month") or None
    if month:
        month_bounds(month, "UTC")  # a malformed month is a 400 here, not per budget
    now = clock.now()
    rows = [budget_status(store, tenant, b, month, now) for b in budgets(store, tenant)]
    notices = []
    for m in sorted({r["month"] for r in rows}):
        notices += [{**jsonable(n), "month": m} for n in store.query("budget_notices", {"tenant": tenant, "month": m})]
    return {"month": month or current_month(now, "UTC"), "budgets": rows, "notices": notices}


def set_budget(store: Store, body: Any, tenant: str) -> dict[str, Any]:
    budget = Budget.from_dict(body)
    save_budget(store, tenant, budget)
    return {"saved": budget.to_dict()}


def remove_budget(store: Store, budget_id: str, tenant: str) -> dict[str, Any]:
    found = [b for b in budgets(store, tenant) if b.budget_id == budget_id]
    if not found:
        raise BadParameter(f"no budget {budget_id[:80]!r}; `tierscope budget list` shows the ids")
    save_budget(store, tenant, found[0], deleted=True)
    return {"removed": budget_id}


def routes(collector: Any) -> list[Route]:
    """The routes to add to the collector's HTTP app (collector.server.http_app)."""

    async def endpoint(request: Request) -> Response:
        try:
            tenant = collector.auth.tenant(request.headers.get("authorization"))
        except Unauthorized as exc:
            return JSONResponse({"error": str(exc)}, 401)
        store = collector.store
        try:
            if request.method == "GET":
                result = await run_in_threadpool(list_budgets, store, dict(request.query_params), tenant)
            elif request.method == "DELETE":
                result = await run_in_threadpool(remove_budget, store, request.query_params.get("budget_id", ""),
                                                 tenant)
            else:
                try:
                    body = json.loads(await request.body() or b"null")
                except ValueError:
                    return JSONResponse({"error": "body must be a JSON budget"}, 400)
                result = await run_in_threadpool(set_budget, store, body, tenant)
        except BadParameter as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(result)

    return [Route("/api/v1/budgets", endpoint, methods=["GET", "POST", "DELETE"])]
