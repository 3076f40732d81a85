"""Conservative exploration: try a new arm only while the role's traffic keeps its quality guard.

A call of a role may go to an arm other than the role's incumbent (today's model) only if, counting
that call at the arm's *lower* confidence bound, the quality of all the traffic served so far (as
graded) stays at or above two guards with probability ``1 - safety``:

- the role's own floors (absolute ``floor``; ``relative_floor`` x the incumbent's quality), and
- overall, ``online_guard`` x what routing every call to its incumbent would have achieved (its
  upper bound: the incumbents' quality is an estimate too).

Past calls count at the quality they were graded; the yardstick is the incumbent's posterior mean.
So a call on a new arm with no evidence costs almost a whole call of quality budget, and the budget
grows by about ``1 - guard`` of a call with every incumbent call: trust is graduated -- an arm gets
more traffic as its lower bound rises, and all of it once the bound alone clears the guards. This
is the conservative-bandit rule (Wu et al. 2016; Kazerouni et al. 2017), per role and overall.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["Guard", "lower_bound", "z_score"]


def z_score(safety: float) -> float:
    """One-sided normal quantile for a breach probability ``safety`` (0.05 -> 1.645)."""
    return NormalDist().inv_cdf(1.0 - safety) if 0.0 < safety < 1.0 else (np.inf if safety <= 0 else 0.0)


def lower_bound(alpha: np.ndarray, beta: np.ndarray, z: float) -> np.ndarray:
    """Normal-approximation lower bound of a Beta(alpha, beta) quality, clipped to [0, 1]."""
    total = alpha + beta
    mean = alpha / total
    sd = np.sqrt(alpha * beta / (total * total * (total + 1.0)))
    return np.clip(mean - z * sd, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Guard:
    """The quality guards of a set of roles, evaluated on a snapshot of ``(roles, arms)`` evidence.

    ``graded`` counts the quality-scored calls each arm has served and ``served`` sums their
    scores (what the users got); ``alpha``/``beta`` are the Beta posteriors; ``incumbent`` holds
    each role's incumbent arm; ``floor`` and ``relative_floor`` are NaN where a role has none;
    ``online_guard`` is None for no overall guard.
    """

    graded: np.ndarray
    served: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    incumbent: np.ndarray
    floor: np.ndarray
    relative_floor: np.ndarray
    online_guard: float | None
    z: float

    def allows(self, role: int, arm: int) -> bool:
        """Whether one more call of ``role`` on ``arm`` keeps both guards (the incumbent always may)."""
        if arm == self.incumbent[role]:
            return True
        rows = np.arange(self.graded.shape[0])
        incumbent_mean = (self.alpha / (self.alpha + self.beta))[rows, self.incumbent]
        calls = self.graded.sum(axis=1) + (rows == role)
        served = self.served.sum(axis=1)
        served[role] += float(lower_bound(self.alpha[role, arm], self.beta[role, arm], self.z))
        role_floor = np.fmax(np.nan_to_num(self.floor, nan=0.0),
                             np.nan_to_num(self.relative_floor, nan=0.0) * incumbent_mean)
        if served[role] < role_floor[role] * calls[role]:
            return False
        if self.online_guard is None:
            return True
        away = calls - self.graded[rows, self.incumbent]
        return served.sum() >= self.online_guard * self._yardstick(incumbent_mean, away)

    def _yardstick(self, incumbent_mean: np.ndarray, away: np.ndarray) -> float:
        """Upper bound of the quality all-incumbent routing would have given the calls so far.

        On the calls the incumbents served it is what they scored; on the ``away`` calls (sent
        elsewhere) it is unknown: their mean times the count, plus ``z`` standard deviations of
        that sum (the mean's posterior spread, scaled by the count, and the calls' own scatter).
        The upper bound matters because the rule favours exploring after an incumbent's unlucky
        streak (a low estimate leaves more budget).
        """
        rows = np.arange(self.graded.shape[0])
        alpha, beta = self.alpha[rows, self.incumbent], self.beta[rows, self.incumbent]
        total = alpha + beta
        variance = alpha * beta / (total * total * (total + 1.0))
        spread = away * away * variance + away * incumbent_mean * (1.0 - incumbent_mean)
        served = float(self.served[rows, self.incumbent].sum())
        return served + float((incumbent_mean * away).sum()) + self.z * float(np.sqrt(spread.sum()))
