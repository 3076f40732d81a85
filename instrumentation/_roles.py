"""``role()``: name the agent role (planner, worker, critic…) that every span inside belongs to.

The role lives in the OpenTelemetry context, so it follows the code wherever the context goes
(nested calls, ``asyncio`` tasks started inside it) and any span started there — ours or another
instrumentation's — picks it up in :class:`RoleSpanProcessor`. Nested roles: the innermost names
the role and tier; team and feature are inherited from the outer one unless the inner sets them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry import context

from ._tier_map import check_tier
from .conventions import DEADLINES

__all__ = ["RoleScope", "current_role", "role"]

F = TypeVar("F", bound=Callable[..., Any])

_ROLE_KEY = context.create_key("tierscope.role")
# The attach() tokens of the roles entered in this context, innermost last. A ContextVar, not an
# attribute of the role object, so one role object can be entered by concurrent tasks.
_tokens: ContextVar[tuple[object, ...]] = ContextVar("tierscope_role_tokens", default=())


@dataclass(frozen=True, slots=True)
class RoleScope:
    """The role in effect: what the span attributes ``tierscope.role/team/feature`` will say."""

    role: str
    team: str | None = None
    feature: str | None = None
    tier: str | None = None
    deadline: str | None = None


def current_role(ctx: context.Context | None = None) -> RoleScope | None:
    """The innermost role in ``ctx`` (default: the current context), or ``None`` outside any role."""
    scope = context.get_value(_ROLE_KEY, ctx)
    return scope if isinstance(scope, RoleScope) else None


class role:
    """Context manager and decorator that puts the spans inside it under an agent role.

    >>> with role("planner", team="search", feature="answer"):
    ...     ...  # every span started here has tierscope.role="planner"

    ``tier`` pins the tier of the LLM calls made in the role (it beats the model→tier map and
    the price band). ``deadline="async"`` marks the role's work latency-tolerant (nobody waits on
    it), so tierscope shows what batch processing would save on it; ``"interactive"`` undoes that
    for a nested role. Works on sync and async functions; generators are refused because a role
    attached across ``yield`` would leak into the caller.
    """

    __slots__ = ("_name", "_team", "_feature", "_tier", "_deadline")

    def __init__(
        self,
        name: str,
        *,
        team: str | None = None,
        feature: str | None = None,
        tier: str | None = None,
        deadline: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a role needs a non-empty name, got {name!r}")
        if deadline is not None and deadline not in DEADLINES:
            raise ValueError(f"deadline must be one of {', '.join(DEADLINES)}, got {deadline!r}")
        self._deadline = deadline
        self._name = name
        self._team = team
        self._feature = feature
        self._tier = check_tier(tier)

    def _scope(self) -> RoleScope:
        outer = current_role()
        return RoleScope(
            role=self._name,
            team=self._team if self._team is not None else (outer.team if outer else None),
            feature=self._feature if self._feature is not None else (outer.feature if outer else None),
            tier=self._tier,
            deadline=self._deadline if self._deadline is not None else (outer.deadline if outer else None),
        )

    def __enter__(self) -> RoleScope:
        scope = self._scope()
        token = context.attach(context.set_value(_ROLE_KEY, scope))
        _tokens.set((*_tokens.get(), token))
        return scope

    def __exit__(self, *exc_info: object) -> None:
        stack = _tokens.get()
        if stack:
            _tokens.set(stack[:-1])
            context.detach(stack[-1])  # type: ignore[arg-type]

    async def __aenter__(self) -> RoleScope:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)

    def __call__(self, func: F) -> F:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(f"@role cannot decorate generator {func.__qualname__}; use `with role(...)` inside it")
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_in_role(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return async_in_role  # type: ignore[return-value]

        @functools.wraps(func)
        def in_role(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return in_role  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (f"role({self._name!r}, team={self._team!r}, feature={self._feature!r}, tier={self._tier!r}, "
                f"deadline={self._deadline!r})")
