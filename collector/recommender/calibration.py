"""Is the stated "chance of meeting the target" honest? Claimed probabilities against what happened.

Each replay (one seed) claims a probability that its final policy meets the quality target on
prompts it has not seen and then either meets it or not. Over many replays a calibrated claim
matches the observed rate: overall (mean claim vs share met) and within bands of claims.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["BANDS", "calibration"]

BANDS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.95), (0.95, 1.0))


def calibration(claimed: Sequence[float], met: Sequence[bool]) -> dict:
    """Mean claim, observed rate, their gap (claimed - observed), Brier score and per-band counts.

    Raises ``ValueError`` on empty or unequal inputs or a claim outside [0, 1].
    """
    if not claimed or len(claimed) != len(met):
        raise ValueError("calibration needs one outcome per claim, and at least one")
    if any(not 0.0 <= c <= 1.0 for c in claimed):
        raise ValueError("a claimed probability lies outside [0, 1]")
    n = len(claimed)
    mean_claim = sum(claimed) / n
    observed = sum(bool(m) for m in met) / n
    bands = []
    for low, high in BANDS:
        inside = [bool(m) for c, m in zip(claimed, met) if low <= c < high or (high == 1.0 and c == 1.0)]
        bands.append({"claimed_from": low, "claimed_to": high, "runs": len(inside),
                      "met": sum(inside), "observed_rate": round(sum(inside) / len(inside), 6) if inside else None})
    return {
        "runs": n,
        "mean_claimed": round(mean_claim, 6),
        "observed_rate": round(observed, 6),
        "gap": round(mean_claim - observed, 6),
        "brier": round(sum((c - bool(m)) ** 2 for c, m in zip(claimed, met)) / n, 6),
        "bands": bands,
    }
