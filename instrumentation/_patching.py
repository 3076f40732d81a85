"""Patch a class's method and undo it, idempotently, without clobbering anyone else's wrapper.

``patch_method`` replaces ``owner.name`` with a wrapper built from the original; ``unpatch`` puts
the original back. If another instrumentation wrapped *our* wrapper in the meantime, restoring
would silently drop theirs, so instead our wrapper is switched off (``Patch.active``) and passes
calls straight through: telemetry stops, their wrapper keeps working.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._guard import logger

__all__ = ["Patch", "patch_method", "patched", "unpatch"]


@dataclass(eq=False)
class Patch:
    """One patched method: what it was, what replaced it, and whether the replacement still acts."""

    group: str
    owner: type
    name: str
    original: Callable[..., Any]
    had_own: bool
    wrapper: Callable[..., Any] | None = field(default=None, repr=False)
    active: bool = True


_lock = threading.Lock()
_patches: dict[tuple[type, str], Patch] = {}


def patch_method(
    group: str,
    owner: type,
    name: str,
    make_wrapper: Callable[[Callable[..., Any], Patch], Callable[..., Any]],
) -> bool:
    """Wrap ``owner.name`` unless already wrapped; ``group`` names the set ``unpatch`` undoes together."""
    with _lock:
        if (owner, name) in _patches:
            return False
        original = getattr(owner, name)
        patch = Patch(group, owner, name, original, had_own=name in owner.__dict__)
        patch.wrapper = make_wrapper(original, patch)
        setattr(owner, name, patch.wrapper)
        _patches[(owner, name)] = patch
        return True


def unpatch(group: str) -> int:
    """Undo every patch of ``group``; returns how many were undone."""
    with _lock:
        mine = [key for key, patch in _patches.items() if patch.group == group]
        for key in mine:
            patch = _patches.pop(key)
            patch.active = False
            if patch.owner.__dict__.get(patch.name) is not patch.wrapper:
                logger.warning(
                    "tierscope: %s.%s was wrapped again after tierscope; leaving a pass-through wrapper",
                    patch.owner.__qualname__,
                    patch.name,
                )
            elif patch.had_own:
                setattr(patch.owner, patch.name, patch.original)
            else:
                delattr(patch.owner, patch.name)
        return len(mine)


def patched(group: str) -> list[Patch]:
    """The active patches of ``group``."""
    with _lock:
        return [patch for patch in _patches.values() if patch.group == group]
