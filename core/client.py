"""A small client for the collector's read API, shared by the CLI and the dashboard."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from tierscope.errors import ApiError


class ApiClient:
    def __init__(self, base_url: str = "http://127.0.0.1:4318", timeout: float = 30.0, token: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """GET /api/v1/<path>. `by` lists go comma-separated; filter lists (role, team, ...) as
        repeated parameters, so values may contain commas. None and empty values are omitted."""
        query = {k: (",".join(v) if k == "by" and isinstance(v, (list, tuple)) else
                     list(v) if isinstance(v, (list, tuple)) else v)
                 for k, v in params.items() if v not in (None, "", [], ())}
        try:
            response = self._http.get(f"/api/v1/{path.lstrip('/')}", params=query)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the collector at {self.base_url} ({type(exc).__name__}); "
                           "start it with `tierscope serve` or pass --api URL") from None
        if response.status_code != 200:
            try:
                reason = response.json().get("error", response.text)
            except ValueError:
                reason = response.text[:200]
            raise ApiError(f"collector answered {response.status_code}: {reason}")
        return orjson.loads(response.content)

    def healthy(self) -> bool:
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._http.close()
