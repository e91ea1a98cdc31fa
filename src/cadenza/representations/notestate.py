"""Note-state matrix of the biaxial LSTM: ``[play, articulate]`` per time step and note.

Encoded array: ``(T, N, 2)`` uint8 with ``T = score.end_tick`` steps and ``N = high - low + 1``
notes (78 by default, MIDI 24..101). ``[t, n, 0]`` (play) is 1 while pitch ``low + n`` sounds
at step ``t``; ``[t, n, 1]`` (articulate) is 1 at the step where a note of that pitch starts.
A held note is ``[1, 0]``, a re-struck one ``[1, 1]``. Notes outside ``[low, high]`` are
dropped.

With ``velocity_bins`` > 0 the array is ``(T, N, 3)``: ``[t, n, 2]`` is the velocity of a note
starting there, as a bin ``1..velocity_bins`` of equal width over MIDI velocities 1..127
(0 where no note starts). Decoding gives each note its bin's middle velocity. Only play and
articulate enter the model's input features; the velocity is a target.

Decoding: a note starts where play and articulate are both 1 (or where play goes from 0 to 1
without articulate) and continues while play is 1 and articulate is 0. Articulate without
play means nothing and is ignored.

:func:`input_features` builds the model's 80 input numbers per step and note from a state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from cadenza.errors import DataError
from cadenza.representations._common import (
    check_int,
    decoded_score,
    notes_from_play,
    notes_in_range,
    shift_axis,
    spans_to_flat_indices,
)
from cadenza.representations.base import KeyboardConfig, Representation, RepresentationConfig
from cadenza.score import Score

__all__ = [
    "NUM_FEATURES",
    "VICINITY",
    "NoteState",
    "NoteStateConfig",
    "input_features",
]

VICINITY = 12  # neighbours on each side whose [play, articulate] enter the input
NUM_FEATURES = 1 + 12 + 2 * (2 * VICINITY + 1) + 12 + 4 + 1  # = 80
BIAXIAL_LOW = 24
BIAXIAL_HIGH = 101

# Offsets of each group inside the 80 features (see input_features).
_POSITION = 0
_PITCH_CLASS = 1
_VICINITY = 13
_CONTEXT = 63
_BEAT = 75
_ZERO = 79


@dataclass(frozen=True)
class NoteStateConfig(KeyboardConfig):
    """Settings of :class:`NoteState`.

    Attributes:
        steps_per_quarter: time steps per quarter note (4 = 16th notes, as in the original).
        low, high: MIDI pitches of the first and last note of the note axis (inclusive).
        velocity_bins: 0, or the number of velocity bins of a third channel (see above).
    """

    low: int = BIAXIAL_LOW
    high: int = BIAXIAL_HIGH
    velocity_bins: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("NoteStateConfig", "velocity_bins", self.velocity_bins, 0)
        if self.velocity_bins > 127:
            raise DataError(f"NoteStateConfig: velocity_bins must be at most 127, got "
                            f"{self.velocity_bins}")

    @property
    def num_notes(self) -> int:
        """Notes on the note axis (the keyboard's ``num_keys``)."""
        return self.num_keys


class NoteState(Representation):
    """``(T, N, 2)`` uint8 ``[play, articulate]`` states; see the module docstring."""

    name: ClassVar[str] = "notestate"
    config_class: ClassVar[type[RepresentationConfig]] = NoteStateConfig
    config: NoteStateConfig

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.config.num_notes, 3 if self.config.velocity_bins else 2)

    def velocity_bin(self, velocity: np.ndarray) -> np.ndarray:
        """MIDI velocities 1..127 -> bins 1..velocity_bins."""
        bins = self.config.velocity_bins
        v = np.clip(np.asarray(velocity, dtype=np.int64), 1, 127)
        return 1 + (v - 1) * bins // 127

    def bin_velocity(self, bins_: np.ndarray) -> np.ndarray:
        """Bins 1..velocity_bins -> the middle MIDI velocity of each (0 stays 0)."""
        bins = self.config.velocity_bins
        b = np.asarray(bins_, dtype=np.int64)
        low = -(-(b - 1) * 127 // bins) + 1  # first velocity of the bin (ceil division)
        high = -(-b * 127 // bins)  # last
        return np.where(b > 0, (low + high) // 2, 0)

    def encode(self, score: Score) -> np.ndarray:
        """``(score.end_tick, N, 2)`` uint8 states of a quantised score."""
        self.check_quantised(score)
        cfg = self.config
        notes = notes_in_range(score.notes, cfg.low, cfg.high)
        channels = self.feature_shape[1]
        state = np.zeros((score.end_tick, cfg.num_notes, channels), dtype=np.uint8)  # (T, N, C)
        key = (notes["pitch"] - cfg.low).astype(np.int64)
        flat = state.reshape(-1)
        row = channels * cfg.num_notes
        flat[spans_to_flat_indices(notes["start"], notes["duration"], channels * key, row)] = 1
        onsets = notes["start"] * row + channels * key
        flat[onsets + 1] = 1  # articulate at onsets
        if cfg.velocity_bins:
            flat[onsets + 2] = self.velocity_bin(notes["velocity"])
        return state

    def decode(self, array: np.ndarray) -> Score:
        """Notes of a state array (non-zero counts as 1), velocity 80."""
        self.check_array(array)
        array = np.asarray(array)
        play = array[..., 0] > 0  # (T, N)
        articulate = array[..., 1] > 0
        previous = np.zeros_like(play)
        previous[1:] = play[:-1]
        start, duration, key = notes_from_play(play, play & (articulate | ~previous))
        velocity: np.ndarray | int = 80
        if self.config.velocity_bins:
            bins = np.asarray(array[..., 2], dtype=np.int64)[start, key]
            velocity = np.where(bins > 0, self.bin_velocity(bins), 80)
        return decoded_score(start, duration, key + self.config.low,
                             self.config.steps_per_quarter, velocity)

    def transpose_array(self, array: np.ndarray, semitones: int) -> np.ndarray:
        """The states moved ``semitones`` notes up (down if negative); notes pushed out are lost."""
        self.check_array(array)
        return shift_axis(np.asarray(array), int(semitones), axis=1)

    def input_features(self, state: np.ndarray, first_step: int = 0) -> np.ndarray:
        """The biaxial input features of ``state`` at this representation's pitch range.

        See :func:`input_features`.
        """
        return input_features(state, first_step, low=self.config.low)


@lru_cache(maxsize=8)
def _note_tables(num_notes: int, low: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per note: pitch-class one-hot (N, 12) float32, rotation indices (N, 12), positions (N,)."""
    pitch_class = (low + np.arange(num_notes)) % 12
    one_hot = np.zeros((num_notes, 12), dtype=np.float32)
    one_hot[np.arange(num_notes), pitch_class] = 1.0
    rotation = (pitch_class[:, None] + np.arange(12)[None, :]) % 12
    positions = np.arange(num_notes, dtype=np.float32)
    for table in (one_hot, rotation, positions):
        table.flags.writeable = False
    return one_hot, rotation, positions


def input_features(state: np.ndarray, first_step: int = 0, low: int = BIAXIAL_LOW) -> np.ndarray:
    """The original biaxial input of every step and note, from the states at those steps.

    ``features[..., t, n, :]`` is computed from ``state[..., t, :, :]`` and the beat of step
    ``first_step + t``; a model uses it to predict ``state[..., t + 1, n, :]``. Per note ``n``
    (pitch ``low + n``), in order:

    * position: ``n`` itself (1 number);
    * pitch class: one-hot of ``(low + n) % 12`` (12);
    * vicinity: ``[play, articulate]`` of notes ``n - 12 .. n + 12`` at step ``t``, note by
      note, zero outside the note axis (50);
    * context: number of playing notes of each pitch class at step ``t``, rotated so that index
      0 is this note's own pitch class (12);
    * beat: ``2 * b - 1`` for the bits ``b`` of ``s % 2, s // 2 % 2, s // 4 % 2, s // 8 % 2``
      with ``s = first_step + t`` (4);
    * a constant 0 (1).

    Args:
        state: ``(..., T, N, 2)`` play/articulate values (any leading batch dimensions).
        first_step: step index (from the start of the piece) of ``state[..., 0, :, :]``.
        low: MIDI pitch of note 0.

    Returns:
        ``(..., T, N, NUM_FEATURES)`` float32.
    """
    state = np.asarray(state)
    if state.ndim < 3 or state.shape[-1] not in (2, 3):
        raise DataError(
            f"input_features: expected states of shape (..., T, N, 2) or (..., T, N, 3) with "
            f"velocities, got {state.shape}"
        )
    state = state[..., :2]  # a velocity channel is a target, never an input
    *lead, num_steps, num_notes, _ = state.shape
    values = state.astype(np.float32, copy=False)
    one_hot, rotation, positions = _note_tables(num_notes, int(low))
    out = np.empty((*lead, num_steps, num_notes, NUM_FEATURES), dtype=np.float32)

    out[..., _POSITION] = positions
    out[..., _PITCH_CLASS:_VICINITY] = one_hot
    # Vicinity: pad the note axis with VICINITY silent notes on each side; the 25 shifted
    # views of it are one sliding window, copied at once into the 50 columns seen as (25, 2).
    width = 2 * VICINITY + 1
    padded = np.zeros((*lead, num_steps, num_notes + 2 * VICINITY, 2), dtype=np.float32)
    padded[..., VICINITY : VICINITY + num_notes, :] = values
    windows = sliding_window_view(padded, width, axis=-2)  # (..., T, N, 2, 25)
    vicinity = as_strided(out[..., _VICINITY:], shape=(*out.shape[:-1], width, 2),
                          strides=(*out.strides[:-1], 2 * out.itemsize, out.itemsize))
    vicinity[...] = np.swapaxes(windows, -1, -2)  # (..., T, N, 25, 2)
    # Context: playing notes per pitch class (..., T, 12), gathered in each note's rotation.
    counts = np.einsum("...n,nc->...c", values[..., 0], one_hot)
    out[..., _CONTEXT:_BEAT] = counts[..., rotation]
    # Beat: four bits of the absolute step index, as -1 / +1.
    steps = int(first_step) + np.arange(num_steps)
    bits = (steps[:, None] >> np.arange(4)[None, :]) & 1  # (T, 4)
    out[..., _BEAT:_ZERO] = (2 * bits - 1).astype(np.float32)[:, None, :]
    out[..., _ZERO] = 0.0
    return out
