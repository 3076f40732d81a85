"""The attempts of one ``Router.call()``: the routed decision, then escalations and failovers.

Each attempt is one ``llm_call()`` span carrying its own decision. A failed check escalates one
tier up (at most ``max_escalations`` times); a provider error fails over to another model of the
same tier, else of the nearest tier above (at most ``max_failovers`` times, none started after
``failover_deadline_s``). No model is tried twice in one call. The two budgets are separate.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

from ._decisions import Decision, drop, stamp
from ._failover import FailoverHook, failover_reason, note_attempts
from ._guard import logger, swallow
from ._llm_call import LLMCall, llm_call
from .conventions import ROUTER_CHECK
from tierscope.errors import CheckFailed

__all__ = ["Attempt", "await_check", "run_check"]


class Router(Protocol):
    """What the attempts need of ``Router`` (its budgets and where to go next)."""

    max_escalations: int
    max_failovers: int
    failover_deadline_s: float | None
    failover_on: FailoverHook | None

    def escalation_for(self, role: str, model: str) -> str | None: ...

    def failover_for(self, role: str, model: str, tried: Collection[str] = ()) -> str | None: ...

    def provider_for(self, model: str) -> str: ...


class Attempt:
    """The attempts of one routed call of ``role``, starting with the logged ``decision``."""

    def __init__(self, router: Router, role: str, decision: Decision) -> None:
        self.router, self.role, self.decision = router, role, decision
        self.model = decision.model
        self.current = decision
        self.first_span_id = ""
        self.count = self.escalations = self.failovers = 0
        self.tried = {decision.model}
        self.outcomes: list[tuple[str, str]] = []  # (model, why it did not do), for the final error's note
        self.started = time.monotonic()

    def span(self) -> Any:
        self.count += 1
        return _stamped(self)

    def checked(self, call: LLMCall, check: Callable[[Any], object] | None, result: Any) -> bool:
        return self.record(call, bool(run_check(check, result)))

    def record(self, call: LLMCall, passed: bool) -> bool:
        with swallow("recording a check result"):
            call.span.set_attribute(ROUTER_CHECK, "passed" if passed else "failed")
        return passed

    def escalate(self) -> bool:
        """Move to the model one tier up; false when no retry is allowed or possible."""
        self.outcomes.append((self.model, "check failed"))
        if self.escalations >= self.router.max_escalations:
            return False
        upper = self.router.escalation_for(self.role, self.model)
        if upper is None or upper in self.tried:
            logger.info("tierscope: role %r: no tier above %r to escalate to", self.role, self.model)
            return False
        self.escalations += 1
        self._move(upper, Decision(self.role, upper, self.decision.policy_version,
                                   escalated_from=self.model, escalation_of=self.first_span_id))
        return True

    def fail_over(self, error: BaseException) -> bool:
        """Move to another model after ``error``; false when it is not a provider error (re-raised
        unchanged) or no failover is left (re-raised with a note of every attempt)."""
        reason = failover_reason(error, self.router.failover_on)
        if not reason:
            return False
        self.outcomes.append((self.model, reason))
        deadline = self.router.failover_deadline_s
        late = deadline is not None and time.monotonic() - self.started >= deadline
        other = None
        if self.failovers < self.router.max_failovers and not late:
            other = self.router.failover_for(self.role, self.model, self.tried)
        if other is None:
            note_attempts(error, self.role, self.outcomes)
            return False
        logger.info("tierscope: role %r: %s on %r, failing over to %r", self.role, reason, self.model, other)
        self.failovers += 1
        self._move(other, Decision(self.role, other, self.decision.policy_version, failover_from=self.model,
                                   failover_reason=reason, failover_of=self.first_span_id))
        return True

    def _move(self, model: str, decision: Decision) -> None:
        self.model, self.current = model, decision
        self.tried.add(model)

    def finish(self, passed: bool, result: Any) -> Any:
        if passed:
            return result
        raise CheckFailed(self.role, self.model, result, self.count)


class _stamped:
    """Context manager: an ``llm_call()`` span for the attempt's model, carrying its decision."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self._inner: Any = None

    def __enter__(self) -> LLMCall:
        attempt = self._attempt
        drop()  # this span carries the attempt's own decision, never one held by an earlier pick()
        self._inner = llm_call(model=attempt.model, provider=attempt.router.provider_for(attempt.model),
                               role=attempt.role)
        call = self._inner.__enter__()
        stamp(call.span, attempt.current)
        if attempt.count == 1:
            attempt.first_span_id = call.span_id if call.span.get_span_context().is_valid else ""
        return call

    def __exit__(self, *exc: Any) -> bool | None:
        return self._inner.__exit__(*exc)


def run_check(check: Callable[[Any], object] | None, result: Any) -> object:
    """The check's verdict on ``result``; a check that raises has failed (pydantic and jsonschema raise)."""
    if check is None:
        return True
    try:
        return check(result)
    except Exception as error:  # the answer is invalid; not the host's bug
        logger.debug("tierscope: routed answer failed its check: %r", error)
        return False


async def await_check(verdict: Awaitable[object]) -> object:
    try:
        return await verdict
    except Exception as error:
        logger.debug("tierscope: routed answer failed its check: %r", error)
        return False
