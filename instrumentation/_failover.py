"""Which errors of a routed call are the provider's (fail over to another model) and which are the host's.

A provider error is one another model may not have: a rate limit (429), a server error (5xx, 408),
a timeout, a connection that failed, or a refusal (``tierscope.errors.Refused``, raised by the
caller's ``fn``). The SDKs' exceptions are recognised by class name and package, never imported,
so the router loads neither SDK. Anything else (a bug in ``fn``, a bad request, a 401) is the
host's: it is re-raised unchanged, never retried on another model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._guard import logger
from tierscope.errors import Refused

__all__ = ["CONNECTION", "RATE_LIMITED", "REFUSAL", "SERVER_ERROR", "TIMEOUT", "FailoverHook", "failover_reason",
           "note_attempts"]

RATE_LIMITED, SERVER_ERROR, TIMEOUT, CONNECTION, REFUSAL = "rate_limited", "server_error", "timeout", "connection", "refusal"

FailoverHook = Callable[[BaseException], "str | None"]

# (package, class name) of an exception or one of its bases -> reason. The most derived class is
# looked up first, so an APITimeoutError (a subclass of APIConnectionError) is a timeout.
_CLASSES = {
    **{(sdk, "APITimeoutError"): TIMEOUT for sdk in ("openai", "anthropic")},
    **{(sdk, "APIConnectionError"): CONNECTION for sdk in ("openai", "anthropic")},
    ("httpx", "TimeoutException"): TIMEOUT,
    ("httpx", "NetworkError"): CONNECTION,
    ("httpx", "RemoteProtocolError"): CONNECTION,
    ("builtins", "TimeoutError"): TIMEOUT,
    ("builtins", "ConnectionError"): CONNECTION,
}
_STATUS_ERRORS = {("openai", "APIStatusError"), ("anthropic", "APIStatusError")}


def failover_reason(error: BaseException, hook: FailoverHook | None = None) -> str:
    """Why ``error`` should fail over to another model (a short code), or ``""``: not a provider error.

    ``hook(error)`` is asked first: a non-empty string is the reason; ``None`` or ``""`` leaves it to
    the built-in rules (a hook that raises is logged and ignored).
    """
    if hook is not None:
        try:
            reason = hook(error)
        except Exception as hook_error:  # the caller's classifier must not hide the call's own error
            logger.warning("tierscope: failover_on raised %r; classifying %r by the built-in rules", hook_error, error)
            reason = None
        if reason:
            return str(reason)
    if isinstance(error, Refused):
        return REFUSAL
    for cls in type(error).__mro__:
        key = (cls.__module__.split(".", 1)[0], cls.__name__)
        if key in _STATUS_ERRORS:
            return _status_reason(getattr(error, "status_code", None))
        if key in _CLASSES:
            return _CLASSES[key]
    return ""


def _status_reason(status: object) -> str:
    if status == 429:
        return RATE_LIMITED
    if status == 408:
        return TIMEOUT
    if isinstance(status, int) and status >= 500:
        return SERVER_ERROR  # includes Anthropic's 529 "overloaded"
    return ""  # 400, 401, 404, 409, 422, ...: another model would not fix the request


def note_attempts(error: BaseException, role: str, attempts: Sequence[tuple[str, str]]) -> None:
    """Add a note to the error a routed call ends with: every model tried and why each failed."""
    tried = ", ".join(f"{model} ({reason})" for model, reason in attempts)
    error.add_note(f"tierscope router: role {role!r}: {len(attempts)} attempt(s) failed: {tried}")
