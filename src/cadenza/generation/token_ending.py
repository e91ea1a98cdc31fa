"""An ending for the token families: the last elements steered to a cadence in a key.

The grid families know where the last two bars lie and clamp the final chord step by step
(:class:`cadenza.generation.plan.EndingPlan`). A token model writes elements of varying
length, so its ending steers *where it can know it is near the end*: the transformer by its
bar tokens (the second-to-last bar, then the last), the events and note-token models by the
elements left (the last :data:`TAIL_SHARE` of them, at least :data:`MIN_TAIL`). In the first
part of that stretch the pitches of the dominant seventh are favoured, in the last part only
the tonic triad may sound: a weight per MIDI pitch that multiplies the model's probabilities,
like a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cadenza.controls import Key

TAIL_SHARE = 0.15  # of the elements generated: the stretch the ending steers
MIN_TAIL = 8
OUTSIDE = 0.02  # weight of a pitch outside the chord in the dominant part (like a key at 0.98)
NONE, DOMINANT, TONIC = 0, 1, 2  # the phases of an ending


@dataclass(frozen=True)
class TokenEnding:
    """Per-pitch weights for the dominant, then the tonic, stretch of a token piece."""

    key: Key

    def _weights(self, classes: set[int], outside: float) -> np.ndarray:
        pitches = np.arange(128) % 12
        return np.where(np.isin(pitches, sorted(classes)), 1.0, outside).astype(np.float32)

    @cached_property
    def dominant(self) -> np.ndarray:
        """(128,) weights: the dominant seventh's pitch classes favoured."""
        fifth = (self.key.tonic + 7) % 12
        return self._weights({fifth, (fifth + 4) % 12, (fifth + 7) % 12, (fifth + 10) % 12},
                             OUTSIDE)

    @cached_property
    def tonic(self) -> np.ndarray:
        """(128,) weights: only the tonic triad's pitch classes."""
        third = 3 if self.key.mode == "minor" else 4
        tonic = self.key.tonic
        return self._weights({tonic, (tonic + third) % 12, (tonic + 7) % 12}, 0.0)

    @staticmethod
    def tail(length: int) -> int:
        """Elements of a ``length``-element generation the ending steers."""
        return min(length, max(MIN_TAIL, round(TAIL_SHARE * length)))

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The weights of :data:`DOMINANT` and :data:`TONIC`, in that order (a generator
        turns each into a bias once and picks one by :meth:`phase_at`)."""
        return self.dominant, self.tonic

    def phase_at(self, done: int, length: int) -> int:
        """:data:`NONE` before the ending's stretch of element ``done`` (0-based) of
        ``length``; in it, :data:`DOMINANT` for its first two thirds, then :data:`TONIC`."""
        tail = self.tail(length)
        left = length - done
        if left > tail:
            return NONE
        return DOMINANT if left > tail // 3 else TONIC

    @staticmethod
    def phase_in_bar(bar: int, stop_bar: int) -> int:
        """Bar-counting families: :data:`DOMINANT` in the second-to-last bar, :data:`TONIC` in
        the last (bars ``stop_bar - 2`` and ``stop_bar - 1``), else :data:`NONE`."""
        return TONIC if bar == stop_bar - 1 else DOMINANT if bar == stop_bar - 2 else NONE

    def _table(self, phase: int) -> np.ndarray | None:
        return None if phase == NONE else self.tables()[phase - 1]

    def weights_at(self, done: int, length: int) -> np.ndarray | None:
        """The weights for element ``done`` of ``length`` (``None`` before the stretch)."""
        return self._table(self.phase_at(done, length))

    def weights_in_bar(self, bar: int, stop_bar: int) -> np.ndarray | None:
        """The weights for bar ``bar`` of a piece ending at ``stop_bar`` (or ``None``)."""
        return self._table(self.phase_in_bar(bar, stop_bar))
