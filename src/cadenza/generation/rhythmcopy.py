"""Rhythm copy: a step of a bar starts a note where the same step a bar earlier did.

Real piano music keeps its rhythm from bar to bar: in the piano-midi.de pieces 69% of bars
start notes at exactly the positions of an earlier bar, against 34% of the biaxial model's
free-running bars (``docs/benchmarks.md``, "Realism"). The model, given the true past,
predicts the rhythm well; running on its own output it drifts. Weighting onsets where the
bar before had them (:class:`cadenza.generation.guides.RhythmGuide`) raises every note's
chance at once and thickens chords instead.

:class:`RhythmCopy` works by choice, not by weight. Every piece is composed as
``candidates`` rows that share its past; at every step each row draws its own notes from the
model. Where a note started at the same step a bar earlier, with probability ``strength``
the piece keeps the first row that starts a note too; otherwise, or when no row does, it
keeps the first row, an ordinary draw. The kept row is then copied over the others
(:meth:`take_rows` of the walk's trackers), so the rows share the past again. As a rule of
:class:`cadenza.generation.candidates.CandidateChoice`, a held step costs 1 for every row
that starts no note, when some row does. Within the
kept draws the model's own distribution is untouched: how many notes start, which ones, and
how loud, are still the model's.

Only onsets are held, not silences: holding both (a step silent where the bar before was
silent) thinned the music, since a silence once drawn was kept bar after bar (3.4-3.7 onsets
per beat against the real 5.6-5.7), and the classifier of ``benchmarks/realism.py`` told the
pieces apart more often (``docs/benchmarks.md``, "Realism").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from cadenza.errors import ConfigError, check_number
from cadenza.generation.candidates import CANDIDATES, kept_rows

__all__ = ["CANDIDATES", "RhythmCopy", "check_rhythm_copy", "starts_any"]


def check_rhythm_copy(strength: float) -> float:
    """A rhythm-copy strength, a probability in [0, 1], else ConfigError naming it."""
    return check_number("rhythm_copy", strength, 0.0, 1.0, "a probability in 0..1")


def starts_any(step: torch.Tensor, before: torch.Tensor) -> np.ndarray:
    """(B,) bool: whether any note starts at ``step`` (B, N, C) after ``before`` (B, N, C):
    struck again, or sounding after silence."""
    play = step[..., 0] > 0
    return (play & ((step[..., 1] > 0) | (before[..., 0] <= 0))).any(-1).numpy()


@dataclass
class RhythmCopy:
    """Choose, per piece, a candidate row that starts a note where the bar before did.

    Attributes:
        strength: the chance that a step is held to the bar before (0 = off).
        pieces: pieces composed together; each has ``candidates`` consecutive rows.
        steps_per_bar: the period of the copy.
        seed: seed of the choice's own random numbers (``None``: nondeterministic).
        candidates: rows per piece.
    """

    strength: float
    pieces: int
    steps_per_bar: int = 16
    seed: int | None = None
    candidates: int = CANDIDATES
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_rhythm_copy(self.strength)
        if self.candidates < 1 or self.pieces < 1:
            raise ConfigError("rhythm copy needs at least one piece and one candidate")
        self.rng = np.random.default_rng(self.seed)

    @property
    def rows(self) -> int:
        """Rows composed along the batch: ``pieces * candidates``."""
        return self.pieces * self.candidates

    def costs(self, steps: list[torch.Tensor]) -> np.ndarray:
        """(pieces, candidates): 1 for a row that starts no note at the step just appended to
        ``steps`` (every step so far, each (rows, N, C), the primer's included) where the step
        is held to the bar before and another row starts one; 0 elsewhere."""
        k = self.candidates
        costs = np.zeros((self.pieces, k))
        if len(steps) >= self.steps_per_bar + 2:
            now = starts_any(steps[-1], steps[-2]).reshape(self.pieces, k)
            then = starts_any(steps[-1 - self.steps_per_bar], steps[-2 - self.steps_per_bar])
            then = then.reshape(self.pieces, k)[:, 0]  # the rows share their past
            held = then & (self.rng.random(self.pieces) < self.strength)
            costs[held & now.any(axis=1)] = 1.0
            costs[now] = 0.0
        return costs

    def choose(self, steps: list[torch.Tensor]) -> np.ndarray:
        """(rows,) the row each row continues from, by this rule alone: per piece, the first
        row that starts a note where the step is held, else the first row."""
        return kept_rows(self.costs(steps))
