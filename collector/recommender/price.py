"""The price of quality: the Lagrange multiplier that splits the global target into role choices.

Minimising total cost subject to overall quality >= target becomes, for a price ``lam`` (USD per
unit of quality, per call), letting every role independently take the arm with the highest
``lam * quality - cost``. The price at which those independent choices just meet the target is
where the quality budget is spent most cheaply across roles. We route at the geometric middle of
the price interval that yields that assignment, so small estimation errors do not flip it, and
each role can then be explored as an ordinary bandit.
"""

from __future__ import annotations

import numpy as np


def role_choices(lam: np.ndarray | float, cost: np.ndarray, quality: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Per role, the allowed arm maximising ``lam * quality - cost`` (ties go to the cheaper arm).

    ``lam`` may be a vector of prices: the result then has one row of role choices per price.
    """
    prices = np.atleast_1d(np.asarray(lam, dtype=float))[:, None, None]
    value = np.where(allowed, prices * quality - cost, -np.inf)
    best = value.max(axis=-1, keepdims=True)
    tied = value >= best - 1e-12 * np.maximum(1.0, np.abs(best))
    choices = np.argmin(np.where(tied, cost, np.inf), axis=-1)
    return choices[0] if np.ndim(lam) == 0 else choices


def quality_price(
    cost: np.ndarray, quality: np.ndarray, allowed: np.ndarray, weights: np.ndarray, target: float
) -> float:
    """Price of quality at which per-role choices meet ``target`` (a weighted quality), robustly.

    ``cost`` and ``quality`` are per call, ``(roles, arms)``; ``weights`` the roles' volume
    shares. Returns 0 when the cheapest allowed arms already meet the target, and twice the
    highest breakpoint (buy all the quality there is) when nothing can. The quality bought grows
    with the price, so the breakpoint is found by bisection.
    """
    dq = quality[:, None, :] - quality[:, :, None]
    dc = cost[:, None, :] - cost[:, :, None]
    pair = allowed[:, None, :] & allowed[:, :, None] & (dq > 0) & (dc > 0)
    breaks = np.unique(dc[pair] / dq[pair])
    rows = np.arange(cost.shape[0])

    def meets(price: float) -> bool:
        return bool((weights * quality[rows, role_choices(price, cost, quality, allowed)]).sum() >= target - 1e-12)

    if breaks.size == 0 or meets(0.0):
        return 0.0
    if not meets(breaks[-1] * (1.0 + 1e-9)):
        return float(breaks[-1] * 2.0)
    low, high = 0, breaks.size - 1  # invariant: just above breaks[high] meets, just above breaks[low - 1] does not
    while low < high:
        middle = (low + high) // 2
        if meets(breaks[middle] * (1.0 + 1e-9)):
            high = middle
        else:
            low = middle + 1
    upper = breaks[low + 1] if low + 1 < breaks.size else breaks[low] * 4.0
    return float(np.sqrt(breaks[low] * upper))
