"""MIDI-message events of the attention LSTM: ``[pitch, is_on, delta]`` per message.

Encoded array: ``(L, 3)`` int32, one row per message, columns

* ``pitch``: MIDI number, ``low .. high`` (notes outside are dropped);
* ``is_on``: 1 for note-on, 0 for note-off;
* ``delta``: ticks (steps of the quantised score, 12 per quarter by default) since the previous
  message (the first message counts from tick 0), capped at ``max_delta``, then snapped to the
  nearest of the fitted :attr:`Events.delta_values`.

Messages are ordered by time; at equal times note-offs come before note-ons, then by pitch.

Limits: a silence longer than ``max_delta`` ticks is shortened to ``max_delta``, and with a
fitted vocabulary a delta never seen in training is moved to the nearest seen value.

Decoding: running time is the cumulative sum of the deltas; a note-on opens its pitch (closing
a note of that pitch still open), a note-off closes it, unmatched note-offs are ignored, notes
still open at the end close one tick after the last message, and every note lasts at least one
tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cadenza.errors import ConfigError, DataError
from cadenza.representations._common import (
    as_int_array,
    check_int,
    check_pitch_range,
    decoded_score,
    nearest_index,
    notes_in_range,
)
from cadenza.representations.base import (
    PIANO_HIGH,
    PIANO_LOW,
    Representation,
    RepresentationConfig,
)
from cadenza.score import Score, remove_overlaps

__all__ = ["Events", "EventsConfig"]

PITCH, IS_ON, DELTA = 0, 1, 2  # column indices


@dataclass(frozen=True)
class EventsConfig(RepresentationConfig):
    """Settings of :class:`Events`.

    Attributes:
        steps_per_quarter: ticks per quarter note of the event clock.
        max_delta: largest delta in ticks; longer gaps are capped to it.
        low, high: MIDI pitch range kept (inclusive).
    """

    steps_per_quarter: int = 12
    max_delta: int = 96
    low: int = PIANO_LOW
    high: int = PIANO_HIGH

    def __post_init__(self) -> None:
        check_int("EventsConfig", "steps_per_quarter", self.steps_per_quarter, 1)
        check_int("EventsConfig", "max_delta", self.max_delta, 1)
        check_pitch_range("EventsConfig", self.low, self.high)
        super().__post_init__()


class Events(Representation):
    """``(L, 3)`` int32 MIDI messages; see the module docstring.

    :meth:`fit` learns the set of deltas seen in training (:attr:`delta_values`), which a model
    can use as its delta classes. Without fitting, every capped delta ``0 .. max_delta`` is
    allowed and encoding keeps the raw capped deltas; :attr:`is_fitted` is true either way.
    """

    name: ClassVar[str] = "events"
    config_class: ClassVar[type[RepresentationConfig]] = EventsConfig
    config: EventsConfig

    def __init__(self, config: EventsConfig | None = None) -> None:
        super().__init__(config)
        self._fitted_deltas: np.ndarray | None = None

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (3,)

    # -- vocabulary ------------------------------------------------------------------------
    @property
    def delta_values(self) -> tuple[int, ...]:
        """Allowed deltas in ticks, ascending: the fitted ones, else ``0 .. max_delta``."""
        return tuple(int(v) for v in self._delta_array())

    @property
    def num_deltas(self) -> int:
        return len(self._delta_array())

    @property
    def is_fitted_deltas(self) -> bool:
        """True once :meth:`fit` or :meth:`load_vocabulary` set the delta values."""
        return self._fitted_deltas is not None

    def _delta_array(self) -> np.ndarray:
        if self._fitted_deltas is not None:
            return self._fitted_deltas
        return np.arange(self.config.max_delta + 1, dtype=np.int64)

    def fit(self, scores: Iterable[Score]) -> None:
        """Collect the capped deltas of ``scores`` (0 always included) as :attr:`delta_values`."""
        seen = [np.zeros(1, dtype=np.int64)]
        count = 0
        for score in scores:
            self.check_quantised(score)
            seen.append(np.unique(self._messages(score)[:, DELTA]))
            count += 1
        if count == 0:
            raise DataError("events: fit() needs at least one score")
        self._fitted_deltas = np.unique(np.concatenate(seen))

    def vocabulary(self) -> dict[str, Any]:
        return {"delta_values": list(self.delta_values)}

    def load_vocabulary(self, vocab: dict[str, Any]) -> None:
        if not vocab:
            self._fitted_deltas = None
            return
        values = vocab.get("delta_values")
        if (
            not isinstance(values, list)
            or not values
            or any(isinstance(v, bool) or not isinstance(v, int) for v in values)
        ):
            raise ConfigError(
                f"events vocabulary: delta_values must be a list of ints, got {values!r}"
            )
        array = np.asarray(values, dtype=np.int64)
        if array[0] != 0 or np.any(np.diff(array) <= 0) or array[-1] > self.config.max_delta:
            raise ConfigError(
                "events vocabulary: delta_values must ascend strictly from 0 to at most "
                f"max_delta={self.config.max_delta}, got {values!r}"
            )
        self._fitted_deltas = array

    def delta_index(self, deltas: np.ndarray) -> np.ndarray:
        """Index into :attr:`delta_values` of the value nearest each delta (after capping)."""
        capped = np.clip(np.asarray(deltas), 0, self.config.max_delta)
        return nearest_index(self._delta_array(), capped)

    def snap_delta(self, values: np.ndarray) -> np.ndarray:
        """Each delta moved to the nearest of :attr:`delta_values` (int64, same shape)."""
        return self._delta_array()[self.delta_index(values)]

    # -- encoding --------------------------------------------------------------------------
    def _messages(self, score: Score) -> np.ndarray:
        """``(L, 3)`` int64 messages with capped but unsnapped deltas."""
        cfg = self.config
        notes = notes_in_range(score.notes, cfg.low, cfg.high)
        count = len(notes)
        time = np.concatenate([notes["start"], notes["start"] + notes["duration"]])
        is_on = np.concatenate([np.ones(count, np.int64), np.zeros(count, np.int64)])
        pitch = np.concatenate([notes["pitch"], notes["pitch"]]).astype(np.int64)
        order = np.lexsort((pitch, is_on, time))  # time, then offs before ons, then pitch
        time = time[order]
        delta = np.diff(time, prepend=0)
        messages = np.empty((2 * count, 3), dtype=np.int64)  # (L, 3)
        messages[:, PITCH] = pitch[order]
        messages[:, IS_ON] = is_on[order]
        messages[:, DELTA] = np.minimum(delta, cfg.max_delta)
        return messages

    def encode(self, score: Score) -> np.ndarray:
        """``(L, 3)`` int32 messages of a quantised score (``L`` = 2 x notes in range)."""
        self.check_quantised(score)
        messages = self._messages(score)
        if self._fitted_deltas is not None:
            messages[:, DELTA] = self.snap_delta(messages[:, DELTA])
        return messages.astype(np.int32)

    def decode(self, array: np.ndarray) -> Score:
        """Notes of a message array (negative deltas count as 0), velocity 80."""
        self.check_array(array)
        cfg = self.config
        messages = as_int_array(array, self.name)
        pitch = messages[:, PITCH]
        if len(pitch) and (pitch.min() < cfg.low or pitch.max() > cfg.high):
            bad = pitch[(pitch < cfg.low) | (pitch > cfg.high)][0]
            raise DataError(f"events: pitch {bad} outside the range {cfg.low}..{cfg.high}")
        time = np.cumsum(np.maximum(messages[:, DELTA], 0))
        end_of_piece = int(time[-1]) + 1 if len(time) else 0
        # Walk each pitch's messages in order: a note-on lasts until the next message of its
        # pitch (an off closes it, an on closes and reopens) or the end of the piece.
        order = np.lexsort((np.arange(len(pitch)), pitch))
        pitch_s, time_s = pitch[order], time[order]
        is_on_s = messages[order, IS_ON] != 0
        end = np.full(len(order), end_of_piece, dtype=np.int64)
        same_pitch_next = pitch_s[1:] == pitch_s[:-1]
        end[:-1][same_pitch_next] = time_s[1:][same_pitch_next]
        start = time_s[is_on_s]
        duration = np.maximum(end[is_on_s] - start, 1)
        score = decoded_score(start, duration, pitch_s[is_on_s], cfg.steps_per_quarter)
        return score.copy_with(notes=remove_overlaps(score.notes))

    def onset_tick(self, array: np.ndarray, index: int) -> int:
        """Time of message ``index``: the sum of the deltas up to and including it."""
        deltas = np.maximum(np.asarray(array)[: index + 1, DELTA], 0)
        return int(deltas.sum())

    def transpose_array(self, array: np.ndarray, semitones: int) -> np.ndarray:
        """Messages moved ``semitones`` up; messages leaving ``low .. high`` are dropped.

        A dropped message's delta is carried to the next kept message (capped and snapped
        again), so the timing of what remains is unchanged.
        """
        self.check_array(array)
        cfg = self.config
        messages = as_int_array(array, self.name)
        pitch = messages[:, PITCH] + int(semitones)
        keep = (pitch >= cfg.low) & (pitch <= cfg.high)
        out = messages.copy()
        out[:, PITCH] = pitch
        if keep.all():
            return out.astype(np.asarray(array).dtype, copy=False)
        time = np.cumsum(np.maximum(messages[:, DELTA], 0))[keep]
        out = out[keep]
        out[:, DELTA] = self.snap_delta(np.diff(time, prepend=0))
        return out.astype(np.asarray(array).dtype, copy=False)
