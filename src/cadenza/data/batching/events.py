"""Batches of message windows for the attention LSTM (family ``events``).

Pieces are ``events`` arrays, (L, 3) int with columns ``[MIDI pitch, is_on, delta ticks]``.
A training example is a window of ``seq_len`` consecutive messages and the message after it:

* ``window``: (B, W, 3) long, ``[pitch - low, is_on, delta ticks]``;
* ``target``: (B, 3) long, the next message in the same columns.

Deltas are snapped to the fitted representation's ``delta_values`` (when it has them) once, at
construction. Training transposition moves the whole window and its target by one interval
drawn from ``transpose_range`` intersected with the intervals that keep every pitch of the
example on the keyboard, through ``representation.transpose_array``.
"""

from __future__ import annotations

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker
from cadenza.errors import DataError
from cadenza.representations.base import PIANO_HIGH, PIANO_LOW

__all__ = ["EventsBatchMaker"]


class EventsBatchMaker(BatchMaker):
    """Random (training) and evenly spaced (evaluation) message windows plus next message."""

    family = "events"

    def configure(self) -> None:
        config = self.representation.config
        self.low = int(getattr(config, "low", PIANO_LOW))
        self.high = int(getattr(config, "high", PIANO_HIGH))

    def prepare(self, index: int, array: np.ndarray) -> np.ndarray:
        """int64 copy of piece ``index`` with deltas snapped to the representation's values."""
        out = np.array(array, dtype=np.int64)
        pitches = out[:, 0]
        if pitches.min() < self.low or pitches.max() > self.high:
            raise DataError(
                f"events piece {index} has pitches {pitches.min()}..{pitches.max()}, "
                f"outside {self.low}..{self.high}"
            )
        snap = getattr(self.representation, "snap_delta", None)
        if snap is not None and getattr(self.representation, "delta_values", None):
            out[:, 2] = np.asarray(snap(out[:, 2]), dtype=np.int64)
        return out

    def eval_starts(self, array: np.ndarray) -> np.ndarray:
        """Every window (thinned evenly by :meth:`eval_batches`)."""
        return self.starts(array)

    def transpose_window(self, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``window`` moved by an interval of ``transpose_range`` that keeps it on the keyboard."""
        low, high = self.transpose_range
        low = max(low, self.low - int(window[:, 0].min()))
        high = min(high, self.high - int(window[:, 0].max()))
        semitones = int(rng.integers(low, high + 1)) if low <= high else 0
        self.transpositions[semitones] += 1
        if not semitones:
            return window
        return np.asarray(self.moved(window, semitones), dtype=np.int64)

    def example(self, window: np.ndarray, start: int) -> np.ndarray:
        """Messages ``start .. start + W`` (W + 1 rows), pitch as an index from ``low``."""
        chunk = window.copy()
        chunk[:, 0] -= self.low
        return chunk

    def collate(self, examples: list[np.ndarray]) -> Batch:
        stacked = torch.from_numpy(np.stack(examples))  # (B, W + 1, 3)
        return {"window": stacked[:, :-1].contiguous(), "target": stacked[:, -1].contiguous()}
