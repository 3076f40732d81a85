"""A routing decision, and how it reaches the span of the LLM call it chose the model for.

``Router.pick()`` usually runs before the call's span exists (``model=router.pick("worker")`` is
evaluated before the SDK shim starts its span). So the decision is held in the context, and the
next tierscope LLM span started in that context for the same model and role claims it: the
decision's attributes go on that span, once. Inside an ``llm_call()`` block, ``pick()`` stamps the
block's span directly.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from ._guard import swallow
from .conventions import (
    ROUTER_ESCALATED_FROM,
    ROUTER_ESCALATION_OF,
    ROUTER_EXPLORED,
    ROUTER_FAILOVER_FROM,
    ROUTER_FAILOVER_OF,
    ROUTER_FAILOVER_REASON,
    ROUTER_POLICY_VERSION,
    ROUTER_PROPENSITY,
)

__all__ = ["Decision", "claim", "drop", "hold", "stamp"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Which model a router chose for one call of ``role``, and with what probability.

    ``propensity`` is the exact probability that the router picks ``model`` for this role under
    its current policy and exploration budget; ``explored`` is true when ``model`` is not the
    policy's choice. An escalation retry has ``escalated_from`` (the model whose answer failed the
    check) and ``escalation_of`` (span id of the logged decision it retries) and no propensity: it
    is not a routing choice, but its cost belongs to the decision it retries. A failover retry (the
    provider failed, not the answer) has, the same way, ``failover_from``, ``failover_reason`` (a
    short code: ``rate_limited``, ``server_error``, ``timeout``, ``connection``, ``refusal``, or
    the caller's) and ``failover_of``.
    """

    role: str
    model: str
    policy_version: str
    propensity: float | None = None
    explored: bool = False
    escalated_from: str = ""
    escalation_of: str = ""
    failover_from: str = ""
    failover_reason: str = ""
    failover_of: str = ""

    def attributes(self) -> dict[str, AttributeValue]:
        out: dict[str, AttributeValue] = {ROUTER_POLICY_VERSION: self.policy_version}
        if self.propensity is not None:
            out[ROUTER_PROPENSITY] = self.propensity
            out[ROUTER_EXPLORED] = self.explored
        if self.escalated_from:
            out[ROUTER_ESCALATED_FROM] = self.escalated_from
        if self.escalation_of:
            out[ROUTER_ESCALATION_OF] = self.escalation_of
        for key, value in ((ROUTER_FAILOVER_FROM, self.failover_from), (ROUTER_FAILOVER_REASON, self.failover_reason),
                           (ROUTER_FAILOVER_OF, self.failover_of)):
            if value:
                out[key] = value
        return out


_pending: ContextVar[Decision | None] = ContextVar("tierscope_router_decision", default=None)


def hold(decision: Decision) -> None:
    """Keep ``decision`` for the next LLM span started in this context (replacing an unclaimed one)."""
    _pending.set(decision)


def drop() -> None:
    """Forget the held decision, if any."""
    _pending.set(None)


def claim(model: str | None, role: str | None) -> Decision | None:
    """The held decision if it is for ``model`` (and ``role``, when the span has one); it is then spent."""
    decision = _pending.get()
    if decision is None or decision.model != model or (role is not None and role != decision.role):
        return None
    _pending.set(None)
    return decision


def stamp(span: trace.Span, decision: Decision) -> None:
    """Put ``decision``'s attributes on ``span``. Never raises."""
    with swallow("recording a routing decision"):
        span.set_attributes(decision.attributes())
