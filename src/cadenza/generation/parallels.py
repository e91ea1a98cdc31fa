"""Avoiding parallels: keep a draw of a step that moves in no parallel fifth or octave.

Four-part writing avoids two parts moving in parallel perfect fifths or octaves; the
chorale model writes them 20-40 times as often as Bach (``docs/benchmarks.md``, "Voice
leading"), and no assignment of its notes to parts can undo a chord that moves in parallel.
:class:`AvoidParallels` is a rule of :class:`cadenza.generation.candidates.CandidateChoice`:
with probability ``strength`` a step is held to it, and then every candidate draw that
starts a note costs the number of parallels it moves in from the previous sonority (the
chord sounding at the last step where a note started, held notes included), counted as
:func:`cadenza.metrics.voiceleading.parallel_pairs` counts them: both parts move, the same
way, a fifth or an octave (unison, compound) apart before and after. The piece keeps the
first clean row, an ordinary draw; where none is clean, the first with the fewest. A draw
that starts no note is clean by silence alone: where the first draw moves in parallels,
each draw that starts nothing costs ``SILENCE`` (a half), so that a clean draw that starts
notes is kept before it. Without that, the rule thinned the music: ``chorale-satb``'s SATB
pieces had 13.5 notes a bar, against 14.9 without the rule and 15.1 from the same four draws
kept unchosen; with it, 14.4 (``docs/benchmarks.md``, "Voice leading").

The parts are read by rank, not by the voicing's search (:mod:`cadenza.voicing`), which is
too slow to run for every candidate at every step: where both chords sound as many notes,
the i-th lowest note of one goes to the i-th lowest of the other (the voicing gives four
notes to four parts in rank order, as it avoids crossings); where they sound different
numbers, only the outer parts are read (the lowest note, the bass, and the highest). A step
that starts no note makes no new sonority and costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from cadenza.errors import ConfigError, check_number
from cadenza.generation.candidates import CANDIDATES
from cadenza.generation.rhythmcopy import starts_any
from cadenza.metrics.voiceleading import parallel_pairs

__all__ = ["AvoidParallels", "check_avoid_parallels", "ranked_parts", "step_parallels"]

STREAM = 1  # the choice's own random numbers: seeded (seed, STREAM), apart from rhythm copy's
SILENCE = 0.5  # a draw starting no note, where the first draw moves in parallels


def check_avoid_parallels(strength: float) -> float:
    """A strength of avoiding parallels, a probability in [0, 1], else ConfigError naming
    it."""
    return check_number("avoid_parallels", strength, 0.0, 1.0, "a probability in 0..1")


def ranked_parts(before: np.ndarray, after: np.ndarray) -> tuple[list[int], list[int]]:
    """The parts' pitches at two sonorities (ascending pitches each), read by rank: all of
    them where both sound as many notes, else the lowest and the highest (none where
    either sounds fewer than two)."""
    if len(before) == len(after):
        return [int(p) for p in before], [int(p) for p in after]
    if min(len(before), len(after)) < 2:
        return [], []
    return [int(before[0]), int(before[-1])], [int(after[0]), int(after[-1])]


def step_parallels(before: np.ndarray, after: np.ndarray) -> int:
    """Parallel fifths and octaves from the chord ``before`` to the chord ``after`` (their
    sounding pitches, ascending), the parts read by rank (:func:`ranked_parts`)."""
    return len(parallel_pairs(*ranked_parts(before, after)))


def _chord(step: torch.Tensor) -> np.ndarray:
    """The notes (ascending indices) sounding in one row's (N, C) step."""
    return np.nonzero(step[:, 0].numpy() > 0)[0]


@dataclass
class AvoidParallels:
    """Cost each candidate draw of a step the parallels it moves in (see the module).

    Attributes:
        strength: the chance that a step is held to the rule (0 = off).
        pieces: pieces composed together; each has ``candidates`` consecutive rows.
        seed: seed of the rule's own random numbers (``None``: nondeterministic).
        candidates: rows per piece.
    """

    strength: float
    pieces: int
    seed: int | None = None
    candidates: int = CANDIDATES
    rng: np.random.Generator = field(init=False, repr=False)
    last: list[np.ndarray] = field(init=False, repr=False)  # per piece: the last sonority
    seen: int = field(default=0, init=False, repr=False)  # shared steps read into ``last``

    def __post_init__(self) -> None:
        check_avoid_parallels(self.strength)
        if self.candidates < 1 or self.pieces < 1:
            raise ConfigError("avoiding parallels needs at least one piece and one candidate")
        self.rng = np.random.default_rng(None if self.seed is None else [self.seed, STREAM])
        self.last = [np.zeros(0, dtype=np.int64) for _ in range(self.pieces)]

    def costs(self, steps: list[torch.Tensor]) -> np.ndarray:
        """(pieces, candidates): the parallels each row's draw of the step just appended to
        ``steps`` (every step so far, each (rows, N, C), the primer's included) moves in,
        where the step is held to the rule and the row starts a note there; ``SILENCE`` for
        a row that starts none where the first row moves in parallels; else 0."""
        self._read_past(steps)
        k = self.candidates
        costs = np.zeros((self.pieces, k))
        held = self.rng.random(self.pieces) < self.strength
        if len(steps) < 2 or not held.any():
            return costs
        starts = starts_any(steps[-1], steps[-2]).reshape(self.pieces, k)
        for piece in np.nonzero(held)[0]:
            for j in np.nonzero(starts[piece])[0]:
                chord = _chord(steps[-1][piece * k + j])
                costs[piece, j] = step_parallels(self.last[piece], chord)
            if costs[piece, 0] > 0:
                costs[piece, ~starts[piece]] = SILENCE
        return costs

    def _read_past(self, steps: list[torch.Tensor]) -> None:
        """Bring each piece's last sonority up to the step before the newest (the steps its
        rows share)."""
        for t in range(self.seen, len(steps) - 1):
            before = steps[t - 1] if t else torch.zeros_like(steps[t])
            starts = starts_any(steps[t], before)
            for piece in range(self.pieces):
                row = piece * self.candidates
                if starts[row]:
                    self.last[piece] = _chord(steps[t][row])
        self.seen = max(self.seen, len(steps) - 1)
