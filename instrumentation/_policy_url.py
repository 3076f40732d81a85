"""Fetch the routing policy a collector serves (``GET /api/v1/policy``), conditionally by ETag.

Standard library only (``urllib``): the instrumentation adds no HTTP client to the agent. A 304
means "unchanged"; any failure (unreachable, 5xx, bad JSON, a policy that does not parse) raises
``PolicyFetchError`` so the router keeps the last good policy.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tierscope.errors import PolicyFetchError

from ._router_policy import RouterPolicy, parse_router_policy

__all__ = ["PolicyFetchError", "fetch_policy"]


def fetch_policy(url: str, etag: str | None, *, token: str = "", timeout_s: float = 5.0) -> tuple[RouterPolicy | None, str | None]:
    """``(policy, etag)``; ``(None, etag)`` when the served policy still has ``etag``."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if etag:
        request.add_header("If-None-Match", etag)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body, new_etag = response.read(), response.headers.get("ETag")
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return None, etag
        raise PolicyFetchError(f"{url}: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise PolicyFetchError(f"{url}: {error}") from None
    try:
        policy = parse_router_policy(json.loads(body), where=url)
    except (ValueError, TypeError) as error:  # PolicyError is a ValueError
        raise PolicyFetchError(f"{url}: {error}") from None
    return policy, new_etag
