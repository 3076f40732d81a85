"""Ingest and read tokens mapped to tenants. The server stamps the tenant; a client never names it.

Tokens come from TIERSCOPE_TOKENS ("token=tenant,token2=tenant2") and/or a tokens file (one
`token tenant` pair a line, `#` comments). With no tokens, auth is off and everything is tenant
"default" — allowed only on a loopback address.
"""

from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path
from tierscope.errors import AuthConfigError, Unauthorized
from tierscope.terms import DEFAULT_TENANT

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def parse_tokens(text: str = "", path: str = "") -> dict[str, str]:
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        token, sep, tenant = item.partition("=")
        pairs.append((token.strip(), tenant.strip()) if sep else ("", ""))
    if path:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise AuthConfigError(f"cannot read tokens file {path}: {exc.strerror}") from None
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line:
                parts = line.split()
                pairs.append((parts[0], parts[1]) if len(parts) == 2 else ("", ""))
    tokens = {}
    for token, tenant in pairs:
        if len(token) < 16 or not tenant:
            raise AuthConfigError("each token entry must be `token=tenant` with a token of at least 16 characters")
        tokens[token] = tenant
    return tokens


class Auth:
    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens = dict(tokens or {})

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def tenant(self, authorization: str | None) -> str:
        """The tenant of an `Authorization: Bearer <token>` header value (or a bare token)."""
        if not self.enabled:
            return DEFAULT_TENANT
        if not authorization:
            raise Unauthorized("missing Authorization: Bearer <token>")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else authorization.strip()
        for known, tenant in self.tokens.items():  # constant-time per comparison
            if hmac.compare_digest(known.encode(), token.encode()):
                return tenant
        raise Unauthorized("unknown token")


def check_bind(host: str, auth: Auth) -> None:
    """Refuse to listen beyond loopback without auth."""
    if auth.enabled or _is_loopback(host):
        return
    raise AuthConfigError(
        f"refusing to bind {host} without auth: anyone who can reach it could write and read spend. "
        "Set TIERSCOPE_TOKENS=token=tenant (or --tokens-file), or bind 127.0.0.1")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
