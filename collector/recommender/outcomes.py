"""Outcome matrices for offline replay: prompts x models, quality and cost, RouterBench layout.

A file has ``eval_name`` (the agent role), one column per model with the quality of its answer,
and one ``<model>|total_cost`` column per model with the USD cost of that call. Blank cells are
missing outcomes, never zeros: the model simply cannot be replayed on that prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import polars as pl

COST_SUFFIX = "|total_cost"
ROLE_COLUMN = "eval_name"


@dataclass(frozen=True, eq=False)
class OutcomeMatrix:
    """Per prompt (row) and model (column): quality in [0, 1] and cost, NaN when missing.

    ``cost_usd`` holds the same costs as exact ``Decimal`` values parsed from the cell text
    (``None`` when missing), for the totals we report.
    """

    roles: np.ndarray
    models: tuple[str, ...]
    quality: np.ndarray
    cost: np.ndarray
    cost_usd: np.ndarray

    @property
    def observed(self) -> np.ndarray:
        """Cells with both a quality and a cost."""
        return ~np.isnan(self.quality) & ~np.isnan(self.cost)

    @property
    def seen(self) -> np.ndarray:
        """Per row, the models with at least one outcome for the row's role (its arms)."""
        observed = self.observed
        seen = np.zeros_like(observed)
        for role in self.role_names:
            rows = self.roles == role
            seen[rows] = observed[rows].any(axis=0)
        return seen

    @property
    def complete(self) -> np.ndarray:
        """Rows where every arm of the role has an outcome: the common ground for comparisons."""
        return (self.observed | ~self.seen).all(axis=1)

    @property
    def role_names(self) -> tuple[str, ...]:
        """Roles in order of first appearance."""
        return tuple(dict.fromkeys(self.roles.tolist()))

    def take(self, rows: np.ndarray) -> OutcomeMatrix:
        """The matrix restricted to ``rows`` (indices or a boolean mask)."""
        return OutcomeMatrix(
            roles=self.roles[rows],
            models=self.models,
            quality=self.quality[rows],
            cost=self.cost[rows],
            cost_usd=self.cost_usd[rows],
        )


def load_outcomes(path: Path) -> OutcomeMatrix:
    """Read one RouterBench-format CSV; models are the columns that have a ``|total_cost`` twin."""
    try:
        frame = pl.read_csv(path, infer_schema_length=0)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise ValueError(f"{path}: cannot read CSV ({error})") from error
    if ROLE_COLUMN not in frame.columns:
        raise ValueError(f"{path}: no {ROLE_COLUMN!r} column")
    models = tuple(c for c in frame.columns if f"{c}{COST_SUFFIX}" in frame.columns)
    if not models:
        raise ValueError(f"{path}: no model columns (a model needs '<model>{COST_SUFFIX}')")
    try:
        quality = _floats(frame, list(models))
        cost = _floats(frame, [f"{m}{COST_SUFFIX}" for m in models])
        cost_usd = np.array(
            [[_decimal(cell) for cell in frame[f"{m}{COST_SUFFIX}"].to_list()] for m in models],
            dtype=object,
        ).T.reshape(frame.height, len(models))
    except (InvalidOperation, pl.exceptions.PolarsError) as error:
        raise ValueError(f"{path}: non-numeric quality or cost cell ({error})") from error
    observed = ~np.isnan(quality)
    if np.any((quality[observed] < 0) | (quality[observed] > 1)):
        raise ValueError(f"{path}: quality outside [0, 1]")
    roles = frame[ROLE_COLUMN].fill_null("").to_numpy().astype(object)
    return OutcomeMatrix(roles=roles, models=models, quality=quality, cost=cost, cost_usd=cost_usd)


def hold_back(rows: int, fraction: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Mask of the ``round(fraction * rows)`` rows held back as new prompts: the last ones, or a
    random set when ``rng`` is given."""
    count = int(round(fraction * rows))
    held = np.zeros(rows, dtype=bool)
    if rng is None:
        held[rows - count :] = True
    else:
        held[rng.choice(rows, size=count, replace=False)] = True
    return held


def interleave(matrices: Sequence[OutcomeMatrix]) -> OutcomeMatrix:
    """Round-robin by row: row 1 of each file in the order given, then row 2 of each, and so on.

    Files that run out drop out of the rotation. Models are the union, in order of first
    appearance; a model a file lacks is missing on all of that file's rows.
    """
    if not matrices:
        raise ValueError("no outcome files")
    models = tuple(dict.fromkeys(m for matrix in matrices for m in matrix.models))
    aligned = [_align(matrix, models) for matrix in matrices]
    order = [
        (source, row)
        for row in range(max(len(matrix.roles) for matrix in aligned))
        for source, matrix in enumerate(aligned)
        if row < len(matrix.roles)
    ]
    pick = {
        field: np.concatenate([getattr(matrix, field) for matrix in aligned])
        for field in ("roles", "quality", "cost", "cost_usd")
    }
    offsets = np.cumsum([0] + [len(matrix.roles) for matrix in aligned])
    index = np.array([offsets[source] + row for source, row in order], dtype=np.int64)
    return OutcomeMatrix(
        roles=pick["roles"][index],
        models=models,
        quality=pick["quality"][index],
        cost=pick["cost"][index],
        cost_usd=pick["cost_usd"][index],
    )


def _align(matrix: OutcomeMatrix, models: tuple[str, ...]) -> OutcomeMatrix:
    if matrix.models == models:
        return matrix
    n = len(matrix.roles)
    quality = np.full((n, len(models)), np.nan)
    cost = np.full((n, len(models)), np.nan)
    cost_usd = np.full((n, len(models)), None, dtype=object)
    for k, model in enumerate(matrix.models):
        column = models.index(model)
        quality[:, column], cost[:, column] = matrix.quality[:, k], matrix.cost[:, k]
        cost_usd[:, column] = matrix.cost_usd[:, k]
    return OutcomeMatrix(roles=matrix.roles, models=models, quality=quality, cost=cost, cost_usd=cost_usd)


def _floats(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    values = frame.select(pl.col(c).str.strip_chars().cast(pl.Float64, strict=True) for c in columns)
    return values.to_numpy().astype(np.float64).reshape(frame.height, len(columns))


def _decimal(cell: str | None) -> Decimal | None:
    if cell is None or not cell.strip():
        return None
    return Decimal(cell.strip())
