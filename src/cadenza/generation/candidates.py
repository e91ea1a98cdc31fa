"""Choosing among candidate draws of a step: one row kept per piece, by the rules' costs.

Every piece is composed as ``candidates`` rows that share its past; at every step each row
draws its own notes from the model. Each rule in force (rhythm copy,
:mod:`cadenza.generation.rhythmcopy`; avoiding parallels, :mod:`cadenza.generation.parallels`)
gives every candidate a cost (0: the rule is satisfied, or not held at this step). The costs
are added, and the piece keeps the *first* of its cheapest rows: where every row costs the
same (no rule held, or every row as good), the first row, an ordinary draw. The kept row is
then copied over the others, so the rows share the past again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from cadenza.errors import ConfigError

__all__ = ["CANDIDATES", "CandidateChoice", "CandidateRule", "kept_rows"]

CANDIDATES = 4  # rows drawn for every step of a piece; one is kept


class CandidateRule(Protocol):
    """A rule scoring the candidate draws of a step."""

    def costs(self, steps: list[torch.Tensor]) -> np.ndarray:
        """(pieces, candidates) the cost of each row's draw of the step just appended to
        ``steps`` (every step so far, each (rows, N, C), the primer's included)."""
        ...


def kept_rows(costs: np.ndarray) -> np.ndarray:
    """(rows,) the row each row continues from: per piece (a row of the (pieces, candidates)
    ``costs``), the first of its cheapest candidates."""
    pieces, candidates = costs.shape
    keep = costs.argmin(axis=1)  # the first of equal minima
    return np.repeat(keep + np.arange(pieces) * candidates, candidates)


@dataclass
class CandidateChoice:
    """The rules in force, and the candidate rows of each piece they choose among.

    Attributes:
        rules: each gives the candidates a cost; the costs are added.
        pieces: pieces composed together; each has ``candidates`` consecutive rows.
        candidates: rows per piece.
    """

    rules: Sequence[CandidateRule]
    pieces: int
    candidates: int = CANDIDATES

    def __post_init__(self) -> None:
        if self.candidates < 1 or self.pieces < 1:
            raise ConfigError("a choice among draws needs at least one piece and one candidate")

    @property
    def rows(self) -> int:
        """Rows composed along the batch: ``pieces * candidates``."""
        return self.pieces * self.candidates

    def choose(self, steps: list[torch.Tensor]) -> np.ndarray:
        """(rows,) the row each row continues from, after the step just appended to
        ``steps``."""
        costs = np.zeros((self.pieces, self.candidates))
        for rule in self.rules:
            costs = costs + rule.costs(steps)
        return kept_rows(costs)
