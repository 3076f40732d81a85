"""Parsing of the read API's query parameters: the shared scope (since, until, role, team, service,
environment), lists, integers, choices, trace ids and time zones. Every failure is a
`BadParameter` naming the parameter, which the HTTP layer answers with 400."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tierscope.errors import BadParameter
from tierscope.terms import DIMENSIONS

BUCKETS = ("hour", "day", "week", "month")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(2200, 1, 1, tzinfo=UTC)
MAX_LIST_ITEMS = 100
MAX_VALUE_CHARS = 4096
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def parse_time(name: str, text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(f"{name} must be an ISO 8601 time such as 2026-11-01T00:00:00Z, got {text[:60]!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


FILTER_PARAMS = ("role", "team", "service", "environment", "feature")  # repeatable: ?role=a&role=b


def parse_list(name: str, text: str | list[str] | None, allowed: tuple[str, ...] | None = None) -> list[str]:
    """A comma-separated string (dimension names), or the repeated values of a filter parameter as
    given (role names may contain commas)."""
    if not text:
        return []
    if isinstance(text, list):
        items = [item for item in text if item != ""]
    else:
        items = [item.strip() for item in text.split(",") if item.strip()]
    if len(items) > MAX_LIST_ITEMS or any(len(item) > MAX_VALUE_CHARS for item in items):
        raise BadParameter(f"{name} has too many or too long values")
    if allowed is not None:
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise BadParameter(f"{name} may only name {', '.join(allowed)}; got {', '.join(unknown)[:200]}")
    return items


def parse_int(name: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadParameter(f"{name} must be an integer, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise BadParameter(f"{name} must be between {low} and {high}")
    return value


def parse_choice(name: str, text: str | None, choices: tuple[str, ...], default: str) -> str:
    value = text or default
    if value not in choices:
        raise BadParameter(f"{name} must be one of {', '.join(choices)}")
    return value


def single(name: str, q: Mapping[str, str]) -> str:
    value = q.get(name, "")
    if len(value) > MAX_VALUE_CHARS:
        raise BadParameter(f"{name} is longer than {MAX_VALUE_CHARS} characters")
    return value


def scope(q: Mapping[str, str], tenant: str) -> dict[str, Any]:
    """The parameters every query's v_spans(...) takes."""
    since = parse_time("since", q.get("since"), EPOCH)
    until = parse_time("until", q.get("until"), END_OF_TIME)
    if until <= since:
        raise BadParameter("until must be after since")
    return {
        "tenant": tenant,
        "since": since,
        "until": until,
        "roles": parse_list("role", q.get("role")),
        "teams": parse_list("team", q.get("team")),
        "services": parse_list("service", q.get("service")),
        "environments": parse_list("environment", q.get("environment")),
    }


def trace_id_param(text: str, allow_empty: bool = False) -> str:
    value = text.strip().lower()
    if allow_empty and not value:
        return ""
    if not _HEX32.match(value):
        raise BadParameter("trace_id must be 32 hex characters")
    return value


def timezone_name(text: str | None) -> str:
    name = text or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadParameter(f"tz must be an IANA time zone such as UTC or Europe/Paris, got {name[:60]!r}") from None
    return name


__all__ = ["BUCKETS", "DIMENSIONS", "END_OF_TIME", "EPOCH", "FILTER_PARAMS", "BadParameter", "parse_choice", "parse_int", "parse_list",
           "parse_time", "scope", "single", "timezone_name", "trace_id_param"]
