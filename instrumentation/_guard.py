"""Keep telemetry failures out of the host program.

Everything tierscope does around an LLM call (reading usage, setting attributes, wrapping a
stream) runs inside :func:`swallow`: an error there is logged, once loudly and then quietly, and
the user's call carries on as if tierscope were not installed. Errors from the LLM call itself are
never swallowed; the shims record and re-raise them.
"""

from __future__ import annotations

import logging
from types import TracebackType

__all__ = ["logger", "swallow"]

logger = logging.getLogger("tierscope.instrumentation")

_reported: set[str] = set()


class swallow:
    """Context manager that logs and suppresses any ``Exception`` raised by tierscope's own code."""

    __slots__ = ("_what",)

    def __init__(self, what: str) -> None:
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        first = self._what not in _reported
        _reported.add(self._what)
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "tierscope: %s failed; the LLM call is unaffected, its telemetry may be incomplete",
            self._what,
            exc_info=True,
        )
        return True
