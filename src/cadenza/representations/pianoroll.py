"""Piano roll: one row per time step, one column per key, 1 while a note sounds.

Encoded array: ``(T, K)`` uint8 with ``T = score.end_tick`` steps and ``K = high - low + 1``
keys (88 by default, MIDI 21..108); cell ``[t, k]`` is 1 while MIDI pitch ``low + k`` sounds at
step ``t``. Notes outside ``[low, high]`` are dropped.

Inherent limit: a roll has no onsets, so decoding turns every maximal run of 1s in a column
into one note. A note re-struck right as the previous one ends (``end == next start``, same
pitch) comes back as a single longer note.

Also here: the benchmark format of the Boulanger-Lewandowski sets (a piece is a list of time
steps, each a list of sounding MIDI pitches) and conversions to and from rolls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import ClassVar

import numpy as np

from cadenza.errors import DataError
from cadenza.representations._common import (
    check_pitch_range,
    decoded_score,
    notes_from_play,
    notes_in_range,
    shift_axis,
    spans_to_flat_indices,
)
from cadenza.representations.base import (
    PIANO_HIGH,
    PIANO_LOW,
    KeyboardConfig,
    Representation,
    RepresentationConfig,
)
from cadenza.score import Score

__all__ = [
    "PianoRoll",
    "PianoRollConfig",
    "pitch_lists_from_roll",
    "roll_from_pitch_lists",
    "score_from_pitch_lists",
]


@dataclass(frozen=True)
class PianoRollConfig(KeyboardConfig):
    """Settings of :class:`PianoRoll`.

    Attributes:
        steps_per_quarter: time steps per quarter note (rows per beat).
        low, high: MIDI pitches of the first and last column (inclusive).
    """


class PianoRoll(Representation):
    """Binary piano roll ``(T, K)`` uint8; see the module docstring."""

    name: ClassVar[str] = "pianoroll"
    config_class: ClassVar[type[RepresentationConfig]] = PianoRollConfig
    config: PianoRollConfig

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.config.num_keys,)

    def encode(self, score: Score) -> np.ndarray:
        """``(score.end_tick, K)`` uint8 roll of a quantised score."""
        self.check_quantised(score)
        cfg = self.config
        notes = notes_in_range(score.notes, cfg.low, cfg.high)
        roll = np.zeros((score.end_tick, cfg.num_keys), dtype=np.uint8)  # (T, K)
        cells = spans_to_flat_indices(
            notes["start"], notes["duration"], notes["pitch"] - cfg.low, cfg.num_keys
        )
        roll.reshape(-1)[cells] = 1
        return roll

    def decode(self, array: np.ndarray) -> Score:
        """Each maximal run of non-zero cells in a column becomes one note (velocity 80)."""
        self.check_array(array)
        play = np.asarray(array) > 0  # (T, K)
        previous = np.zeros_like(play)
        previous[1:] = play[:-1]
        start, duration, key = notes_from_play(play, play & ~previous)
        return decoded_score(start, duration, key + self.config.low, self.config.steps_per_quarter)

    def transpose_array(self, array: np.ndarray, semitones: int) -> np.ndarray:
        """The roll moved ``semitones`` keys up (down if negative); keys pushed out are lost."""
        self.check_array(array)
        return shift_axis(np.asarray(array), int(semitones), axis=1)


# -- the benchmark format ----------------------------------------------------------------------
def roll_from_pitch_lists(
    steps: Sequence[Sequence[int]], low: int = PIANO_LOW, high: int = PIANO_HIGH
) -> np.ndarray:
    """``(T, high - low + 1)`` uint8 roll of a piece given as lists of sounding pitches.

    Raises:
        DataError: a pitch lies outside ``[low, high]``.
    """
    check_pitch_range("roll_from_pitch_lists", low, high)
    counts = np.fromiter((len(step) for step in steps), dtype=np.int64, count=len(steps))
    pitches = np.fromiter(chain.from_iterable(steps), dtype=np.int64, count=int(counts.sum()))
    if len(pitches) and (pitches.min() < low or pitches.max() > high):
        bad = pitches[(pitches < low) | (pitches > high)][0]
        raise DataError(f"pitch {bad} is outside the roll's range {low}..{high}")
    roll = np.zeros((len(steps), high - low + 1), dtype=np.uint8)  # (T, K)
    roll[np.repeat(np.arange(len(steps)), counts), pitches - low] = 1
    return roll


def pitch_lists_from_roll(roll: np.ndarray, low: int = PIANO_LOW) -> list[list[int]]:
    """The sounding MIDI pitches (ascending) of every row of a ``(T, K)`` roll."""
    roll = np.asarray(roll)
    if roll.ndim != 2:
        raise DataError(f"expected a (T, K) piano roll, got shape {roll.shape}")
    rows, keys = np.nonzero(roll > 0)
    bounds = np.searchsorted(rows, np.arange(1, roll.shape[0]))
    return [part.tolist() for part in np.split(keys + low, bounds)] if roll.shape[0] else []


def score_from_pitch_lists(
    steps: Sequence[Sequence[int]], steps_per_quarter: int, name: str = ""
) -> Score:
    """A score of a benchmark piece (runs of a pitch in consecutive steps become one note)."""
    rep = PianoRoll(PianoRollConfig(steps_per_quarter=steps_per_quarter))
    score = rep.decode(roll_from_pitch_lists(steps))
    return score.copy_with(name=name)
