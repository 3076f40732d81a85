"""Issue 19: which errors of a routed call are the provider's (fail over) and which the host's
(re-raised unchanged), on the real SDKs' exception classes; and the note on the final error."""

from __future__ import annotations

import logging

import anthropic
import httpx
import openai
import pytest

from tierscope.errors import Refused
from tierscope.instrumentation._failover import failover_reason, note_attempts

REQUEST = httpx.Request("POST", "http://fake/v1/chat/completions")


def response(status: int) -> httpx.Response:
    return httpx.Response(status, request=REQUEST, json={"error": {"message": "no"}})


@pytest.mark.parametrize("sdk", [openai, anthropic])
@pytest.mark.parametrize(("status", "reason"), [
    (429, "rate_limited"), (500, "server_error"), (502, "server_error"), (503, "server_error"),
    (529, "server_error"), (408, "timeout"),
    (400, ""), (401, ""), (403, ""), (404, ""), (409, ""), (422, ""),
])
def test_sdk_status_errors(sdk, status, reason):
    error = sdk.APIStatusError("no", response=response(status), body=None)
    assert error.status_code == status and failover_reason(error) == reason


@pytest.mark.parametrize("sdk", [openai, anthropic])
def test_the_sdks_own_subclasses_are_classified_by_their_base(sdk):
    assert failover_reason(sdk.RateLimitError("no", response=response(429), body=None)) == "rate_limited"
    assert failover_reason(sdk.InternalServerError("no", response=response(503), body=None)) == "server_error"
    assert failover_reason(sdk.BadRequestError("no", response=response(400), body=None)) == ""


@pytest.mark.parametrize("sdk", [openai, anthropic])
def test_sdk_timeouts_and_connection_errors(sdk):
    assert failover_reason(sdk.APITimeoutError(request=REQUEST)) == "timeout"  # a subclass of APIConnectionError
    assert failover_reason(sdk.APIConnectionError(request=REQUEST)) == "connection"
    assert failover_reason(sdk.APIError("stream broke", request=REQUEST, body=None)) == ""


@pytest.mark.parametrize(("error", "reason"), [
    (httpx.ReadTimeout("slow", request=REQUEST), "timeout"),
    (httpx.ConnectTimeout("slow", request=REQUEST), "timeout"),
    (httpx.ConnectError("refused", request=REQUEST), "connection"),
    (httpx.RemoteProtocolError("peer closed", request=REQUEST), "connection"),
    (TimeoutError("slow"), "timeout"),
    (ConnectionResetError("reset"), "connection"),
    (Refused("I can't help with that"), "refusal"),
    (ValueError("a bug"), ""),
    (KeyError("choices"), ""),
    (httpx.HTTPStatusError("500", request=REQUEST, response=httpx.Response(500, request=REQUEST)), ""),
])
def test_other_errors(error, reason):
    assert failover_reason(error) == reason


def test_the_callers_hook_is_asked_first_and_none_leaves_the_built_in_rules(caplog):
    class QuotaExceeded(Exception):
        pass

    hook = lambda error: "quota" if isinstance(error, QuotaExceeded) else None  # noqa: E731
    assert failover_reason(QuotaExceeded(), hook) == "quota"
    assert failover_reason(TimeoutError(), hook) == "timeout"
    assert failover_reason(ValueError(), hook) == ""
    assert failover_reason(TimeoutError(), lambda error: "slow_model") == "slow_model"  # the hook may rename

    def broken(error: BaseException) -> str:
        raise RuntimeError("bug in the hook")

    with caplog.at_level(logging.WARNING, logger="tierscope.instrumentation"):
        assert failover_reason(TimeoutError(), broken) == "timeout"
        assert failover_reason(ValueError(), broken) == ""
    assert "failover_on raised RuntimeError('bug in the hook')" in caplog.text


def test_the_final_error_notes_every_attempt():
    error = TimeoutError("slow")
    note_attempts(error, "worker", [("a", "server_error"), ("b", "check failed"), ("c", "timeout")])
    assert error.__notes__ == ["tierscope router: role 'worker': 3 attempt(s) failed: "
                               "a (server_error), b (check failed), c (timeout)"]


def test_classifying_imports_no_sdk():
    import subprocess
    import sys

    code = ("import sys; from tierscope.instrumentation import Router;"
            "from tierscope.instrumentation._failover import failover_reason;"
            "assert failover_reason(TimeoutError()) == 'timeout';"
            "print(sorted(m for m in ('openai', 'anthropic', 'httpx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
