"""Every error tierscope raises on purpose, in one place: what went wrong, in one line a user can act on.

All derive from `TierscopeError`, and each also from the built-in exception it always was
(`ValueError` for bad input, `RuntimeError` for a failing dependency, ...), so callers may catch
either. Modules re-export the ones they raise, so `from tierscope.collector.store.clickhouse import
StoreError` keeps working.
"""

from __future__ import annotations

from typing import Any


class TierscopeError(Exception):
    """Base of every error tierscope raises on purpose."""


# --- input: a request, a parameter, a file -----------------------------------------------------

class BadRequest(TierscopeError, ValueError):
    """An undecodable OTLP body: the client gets 400 and this message."""


class TooLarge(BadRequest):
    """A body or its decompressed form over the cap: 413."""


class Rejected(TierscopeError, ValueError):
    """A span that cannot be stored; the message is the reason reported to the client."""


class BadParameter(TierscopeError, ValueError):
    """A read-API parameter is malformed; the message names it."""


class PricesFileError(TierscopeError, ValueError):
    """prices.toml is malformed; the message names the entry and the field."""


class PolicyFileError(TierscopeError, ValueError):
    """The routing policy file is malformed; the message names the file and the entry."""


class PolicyError(TierscopeError, ValueError):
    """A serialised policy (a recommendation, or the router's) is malformed; the message names the entry."""


class RuleError(TierscopeError, ValueError):
    """An alert rule that cannot be armed; the message says which field and why."""


class InvoiceError(BadParameter):
    """A provider cost export that cannot be read; the message names the file and the line or field."""


class ClusterSchemaError(TierscopeError, ValueError):
    """A migration statement that cannot be rewritten for a cluster; the message names it."""


class AuthConfigError(TierscopeError, ValueError):
    """The tokens configuration or the bind address is unsafe or malformed."""


class Unauthorized(TierscopeError, PermissionError):
    """Missing or unknown token."""


# --- the store and the ingest path -------------------------------------------------------------

class StoreError(TierscopeError, RuntimeError):
    """The store could not be opened or used; the message says why in one line."""


class StoreUnavailable(StoreError):
    """The store cannot be reached right now; writes wait on local disk, reads should be retried later."""


class LogFull(TierscopeError, RuntimeError):
    """The ingest log holds `limit` bytes the store has not taken yet: 429, retry after `retry_after` s."""

    def __init__(self, limit: int, retry_after: int = 1) -> None:
        super().__init__(f"collector is at capacity (ingest log full: {limit} bytes waiting for the store); "
                         f"retry after {retry_after}s")
        self.retry_after = retry_after


# --- clients of the collector and of LLM providers ---------------------------------------------

class ApiError(TierscopeError, RuntimeError):
    """The collector answered with an error, or could not be reached; one clear line."""


class CheckFailed(TierscopeError):
    """Every attempt of a routed call failed its check; `result` is the last answer, from `model`."""

    def __init__(self, role: str, model: str, result: Any, attempts: int) -> None:
        super().__init__(f"role {role!r}: the answer failed its check after {attempts} attempt(s), last on {model!r}")
        self.role, self.model, self.result, self.attempts = role, model, result, attempts


class Refused(TierscopeError):
    """Raise in a routed call's `fn` when the model refused to answer: the `Router` fails over to
    another model (reason `refusal`), as it does on a provider error."""


class PolicyFetchError(TierscopeError):
    """The collector's policy URL gave no usable policy this time (the router keeps its last good one)."""
