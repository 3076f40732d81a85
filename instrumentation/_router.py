"""``Router``: send each call of a role to the model a recommended policy names, and log why.

The router closes tierscope's loop: ``tierscope recommend`` writes a policy, the router follows it,
and every call it routes carries the policy version, the exact probability the router had of
choosing that model (its *propensity*) and whether it explored. Those spans are what the collector's
off-policy estimate reads to say what another policy would have cost and achieved.

Exploration is epsilon-uniform over the role's arms (the policy's model, the role's model when the
policy was made, and any ``candidates``): with ``k`` arms the policy's model is chosen with
probability ``1 - epsilon + epsilon / k`` and each other arm with ``epsilon / k``. A pinned route is
never explored. The policy file is re-read when its modification time or size changes, checked at
most every ``reload_interval_s``; a file that goes bad keeps the last good policy. With
``policy_url`` the router follows the collector's published versions instead (``GET
/api/v1/policy``, by ETag, every ``reload_interval_s``; unreachable keeps the last good one): a
route with a canary sends its ``share`` of the role's calls to the canary model, and the logged
propensity is the exact mixture, ``(1 - epsilon) x split + epsilon / k``.

``call()`` runs one routed call under a deterministic check (a schema, required fields): when the
answer fails it, the call is retried one tier up. Each attempt is its own LLM span, so the retry is
billed in spend like any call; the retry carries ``escalated_from`` and points at the decision it
retries, whose off-policy cost then includes it. When ``fn`` fails with a provider error (429,
5xx, a timeout, a lost connection, or ``tierscope.errors.Refused``), the call fails over to another
model of the same tier, else of the nearest tier above, never one it already tried, at most
``max_failovers`` times: the retry carries ``failover_from``, ``failover_reason`` and
``failover_of``; the failed attempt's span keeps its error.
"""

from __future__ import annotations

import inspect
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ._decisions import Decision, hold, stamp
from ._failover import FailoverHook
from ._guard import logger, swallow
from ._llm_call import current_llm_call
from ._policy_url import PolicyFetchError, fetch_policy
from ._router_attempt import Attempt, await_check, run_check
from ._router_policy import RouterPolicy, RoutePlan, load_router_policy, parse_router_policy
from ._tier_map import resolve_tier
from .conventions import TIERS
from tierscope.errors import CheckFailed, Refused

__all__ = ["CheckFailed", "Decision", "Refused", "Router"]

T = TypeVar("T")

_RANK = {tier: rank for rank, tier in enumerate(reversed(TIERS))}  # local 0 ... frontier 3


class _Uniform(Protocol):
    def random(self) -> float: ...


class Router:
    """Routes calls of each role by ``policy`` with a small exploration budget; see the module doc.

    >>> router = Router("routing-policy.recommended.yaml", epsilon=0.05)
    >>> client.chat.completions.create(model=router.pick("formatter"), messages=[...])

    ``policy`` is the path of a ``tierscope recommend --format yaml|json`` file, or its content as
    a dict; or, instead, ``policy_url`` is the collector's ``GET /api/v1/policy`` (published
    versions, canaries included), polled with its ETag every ``reload_interval_s``; while it is
    unreachable the last good policy stays in force. ``rng`` is anything with ``random()`` (``random.Random``, ``numpy.random.Generator``)
    or an int seed. ``default`` is routed for roles the policy does not name (else ``KeyError``).
    ``candidates`` adds arms to explore per role; ``providers`` names each model's provider for the
    spans of ``call()`` (else the policy's ``models`` section, else ``provider``).
    ``max_failovers`` bounds the provider-error retries of one ``call()`` (``max_escalations`` the
    failed-check ones), and no failover starts ``failover_deadline_s`` after the call began.
    ``failover_on(error)`` may name more errors to fail over on: a short reason, or ``None`` for
    the built-in rules (``instrumentation._failover``).
    """

    def __init__(
        self,
        policy: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        policy_url: str | None = None,
        token: str = "",
        epsilon: float = 0.05,
        rng: _Uniform | int | None = None,
        candidates: Mapping[str, Sequence[str]] | None = None,
        default: str | None = None,
        providers: Mapping[str, str] | None = None,
        provider: str = "",
        max_escalations: int = 1,
        max_failovers: int = 2,
        failover_deadline_s: float | None = None,
        failover_on: FailoverHook | None = None,
        reload_interval_s: float = 1.0,
    ) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        if max_escalations < 0:
            raise ValueError("max_escalations must be >= 0")
        if max_failovers < 0:
            raise ValueError("max_failovers must be >= 0")
        if failover_deadline_s is not None and not failover_deadline_s >= 0:
            raise ValueError(f"failover_deadline_s must be >= 0 seconds or None, got {failover_deadline_s!r}")
        self.max_failovers = max_failovers
        self.failover_deadline_s = failover_deadline_s
        self.failover_on = failover_on
        self.epsilon = float(epsilon)
        self._rng: _Uniform = random.Random(rng) if rng is None or isinstance(rng, int) else rng
        self._candidates = {role: tuple(models) for role, models in (candidates or {}).items()}
        self._default = default
        self._providers = dict(providers or {})
        self._provider = provider
        self.max_escalations = max_escalations
        self._reload_interval = reload_interval_s
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked_at = 0.0
        self._url, self._token, self._etag = policy_url, token, None
        if (policy is None) == (policy_url is None):
            raise ValueError("give a policy (file or dict) or a policy_url, not both")
        if policy_url is not None:
            fetched, self._etag = fetch_policy(policy_url, None, token=token)  # unreachable at start: a config error
            self._policy = fetched  # type: ignore[assignment]
            self._checked_at = time.monotonic()
        elif isinstance(policy, Mapping):
            self._policy = parse_router_policy(policy)
        else:
            self._path = Path(policy)
            self._stamp = self._file_stamp()
            self._policy = load_router_policy(self._path)  # a missing or bad file at start is a config error
            self._checked_at = time.monotonic()

    # --- the policy -----------------------------------------------------------------------------
    @property
    def policy(self) -> RouterPolicy:
        """The policy in force (re-read first if the file changed)."""
        self._maybe_reload()
        return self._policy

    @property
    def policy_version(self) -> str:
        return self.policy.version

    def arms(self, role: str) -> tuple[str, ...]:
        """The models ``role`` may be routed to, the policy's choice first."""
        return self._arms(self.policy, role)

    def propensity(self, role: str, model: str) -> float:
        """The probability that ``pick(role)`` returns ``model`` under the current policy."""
        policy = self.policy
        arms = self._arms(policy, role)
        if model not in arms:
            return 0.0
        return self._chance(policy, role, arms, model)

    # --- routing --------------------------------------------------------------------------------
    def pick(self, role: str) -> str:
        """The model for one call of ``role``; the decision goes on that call's span.

        Inside an ``llm_call()`` block it is recorded on the block's span; otherwise on the next
        tierscope LLM span started in this context for that model and role (the SDK call you pass
        the model to).
        """
        decision = self.decide(role)
        with swallow("recording a routing decision"):
            enclosing = current_llm_call()
            if enclosing is not None:
                stamp(enclosing.span, decision)
            else:
                hold(decision)
        return decision.model

    def decide(self, role: str) -> Decision:
        """Choose a model for ``role`` and say with what probability, without recording it anywhere."""
        policy = self.policy
        arms = self._arms(policy, role)
        k = len(arms)
        explore_p = 0.0 if k == 1 else self.epsilon
        canary, share = self._canary(policy, role)
        with self._lock:
            u = float(self._rng.random())
        if u < explore_p:
            model = arms[min(int(u / explore_p * k), k - 1)]  # u is uniform on [0, epsilon): pick one of k
        elif canary and (u - explore_p) / (1.0 - explore_p) < share:  # the rest of u, uniform on [0, 1)
            model = canary
        else:
            model = arms[0]
        return Decision(role, model, policy.version, propensity=self._chance(policy, role, arms, model),
                        explored=model not in (arms[0], canary))

    def escalation_for(self, role: str, model: str) -> str | None:
        """The model one tier above ``model`` among those this router knows for ``role``, if any."""
        return self._nearest(role, model, same_tier=False, skip=(model,))

    def failover_for(self, role: str, model: str, tried: Collection[str] = ()) -> str | None:
        """The model to retry a call of ``role`` on when ``model`` failed: another of its tier among
        those this router knows for the role (its arms, then the policy's ``models``, then
        ``providers``), else one of the nearest tier above; never ``model`` or one in ``tried``.
        When ``model``'s tier is unknown, the role's next arm."""
        return self._nearest(role, model, same_tier=True, skip=(model, *tried))

    def _nearest(self, role: str, model: str, *, same_tier: bool, skip: Collection[str]) -> str | None:
        policy = self.policy
        tier = self._tier(policy, role, model)
        if tier is None:
            return next((m for m in self._arms(policy, role) if m not in skip), None) if same_tier else None
        known = [*self._arms(policy, role), *policy.models, *self._providers]
        floor = _RANK[tier] if same_tier else _RANK[tier] + 1
        ranked = [(rank, i, m) for i, m in enumerate(dict.fromkeys(known)) if m not in skip
                  and (rank := _RANK.get(self._tier(policy, role, m) or "", -1)) >= floor]
        return min(ranked)[2] if ranked else None

    def call(self, role: str, fn: Callable[[str], T], *, check: Callable[[T], object] | None = None) -> T:
        """Run ``fn(model)`` for one call of ``role``; if ``check(answer)`` fails, retry one tier up;
        if ``fn`` fails with a provider error, fail over to another model (see ``failover_for``).

        Each attempt is an LLM span (an instrumented SDK call inside ``fn`` adds its usage to it).
        A check fails when it returns a falsy value or raises. After ``max_escalations`` retries,
        or with no tier left above, ``CheckFailed`` is raised with the last answer. When no
        failover is left, the last provider error is raised, with a note naming every attempt. Any
        other error from ``fn`` is recorded on the span and re-raised unchanged, never retried.
        Give the SDK client ``max_retries=0`` (or few): its own retries stay on the same model.
        """
        attempt = Attempt(self, role, self.decide(role))
        while True:
            try:
                with attempt.span() as call:
                    result = fn(attempt.model)
                    passed = attempt.checked(call, check, result)
            except Exception as error:
                if attempt.fail_over(error):
                    continue
                raise
            if passed or not attempt.escalate():
                return attempt.finish(passed, result)

    async def acall(
        self, role: str, fn: Callable[[str], Awaitable[T]], *, check: Callable[[T], object] | None = None
    ) -> T:
        """``call()`` for an async ``fn``; ``check`` may be sync or async."""
        attempt = Attempt(self, role, self.decide(role))
        while True:
            try:
                with attempt.span() as call:
                    result = await fn(attempt.model)
                    verdict = run_check(check, result)
                    if inspect.isawaitable(verdict):
                        verdict = await await_check(verdict)
                    passed = attempt.record(call, bool(verdict))
            except Exception as error:
                if attempt.fail_over(error):
                    continue
                raise
            if passed or not attempt.escalate():
                return attempt.finish(passed, result)

    # --- internals ------------------------------------------------------------------------------
    def _canary(self, policy: RouterPolicy, role: str) -> tuple[str, float]:
        plan = policy.routes.get(role)
        if plan is None or plan.pinned or not plan.canary_model or plan.canary_model == plan.model:
            return "", 0.0
        return plan.canary_model, plan.canary_share

    def _chance(self, policy: RouterPolicy, role: str, arms: tuple[str, ...], model: str) -> float:
        """Exact probability of ``model``: the policy's split (canary share or all on its model)
        on ``1 - epsilon`` of the calls, and an even ``epsilon / k`` to each arm."""
        explore_p = 0.0 if len(arms) == 1 else self.epsilon
        canary, share = self._canary(policy, role)
        planned = share if model == canary else (1.0 - share) if model == arms[0] else 0.0
        return (1.0 - explore_p) * planned + explore_p / len(arms)

    def _arms(self, policy: RouterPolicy, role: str) -> tuple[str, ...]:
        plan = policy.routes.get(role)
        if plan is None:
            if self._default is None:
                raise KeyError(f"the routing policy has no route for role {role!r} and the router has no default")
            plan = RoutePlan(model=self._default)
        if plan.pinned:
            return (plan.model,)
        models = (plan.model, plan.canary_model, plan.current_model, *self._candidates.get(role, ()))
        return tuple(dict.fromkeys(m for m in models if m))

    def _tier(self, policy: RouterPolicy, role: str, model: str) -> str | None:
        plan = policy.routes.get(role)
        if plan is not None and plan.model == model and plan.tier:
            return plan.tier
        if model in policy.models:
            return policy.models[model][0]
        with swallow("resolving a model's tier"):
            return resolve_tier([model], self.provider_for(model) or None)
        return None

    def provider_for(self, model: str) -> str:
        if model in self._providers:
            return self._providers[model]
        declared = self._policy.models.get(model)
        return declared[1] if declared and declared[1] else self._provider

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self._path)  # type: ignore[arg-type]
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _maybe_reload(self) -> None:
        if self._path is None and self._url is None:
            return
        now = time.monotonic()
        if now - self._checked_at < self._reload_interval:
            return
        with self._lock:
            if now - self._checked_at < self._reload_interval:
                return
            self._checked_at = now
            if self._url is not None:
                self._follow_url()
                return
            stamp_now = self._file_stamp()
            if stamp_now is None or stamp_now == self._stamp:
                return
            try:
                policy = load_router_policy(self._path)
            except (OSError, ValueError) as error:
                logger.warning("tierscope: keeping routing policy %s: %s", self._policy.version, error)
                self._stamp = stamp_now  # do not re-read a bad file until it changes again
                return
            self._policy, self._stamp = policy, stamp_now
            logger.info("tierscope: routing policy %s loaded from %s", policy.version, self._path)


    def _follow_url(self) -> None:
        """Fetch the served policy if its ETag changed; keep the last good one on any failure."""
        try:
            policy, self._etag = fetch_policy(self._url or "", self._etag, token=self._token)
        except PolicyFetchError as error:
            logger.warning("tierscope: keeping routing policy %s: %s", self._policy.version, error)
            return
        if policy is not None:
            self._policy = policy
            logger.info("tierscope: routing policy %s loaded from %s", policy.version, self._url)
