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

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker, evenly_spaced_windows
from cadenza.errors import DataError
from cadenza.representations.base import PIANO_HIGH, PIANO_LOW, Representation

__all__ = ["EventsBatchMaker"]


class EventsBatchMaker(BatchMaker):
    """Random (training) and evenly spaced (evaluation) message windows plus next message."""

    def __init__(
        self,
        arrays: Sequence[np.ndarray],
        representation: Representation,
        batch_size: int,
        seq_len: int,
        *,
        transpose_range: tuple[int, int] = (0, 0),
        max_eval_batches: int = 50,
    ) -> None:
        for index, array in enumerate(arrays):
            if array.ndim != 2 or array.shape[1] != 3:
                raise DataError(
                    f"events piece {index}: expected an array of shape (L, 3), got {array.shape}"
                )
        super().__init__(
            arrays,
            representation,
            batch_size,
            seq_len,
            transpose_range=transpose_range,
            max_eval_batches=max_eval_batches,
        )
        config = representation.config
        self.low = int(getattr(config, "low", PIANO_LOW))
        self.high = int(getattr(config, "high", PIANO_HIGH))
        self.arrays = [self._prepare(index, array) for index, array in enumerate(self.arrays)]
        self.window_counts = np.array([len(a) - seq_len for a in self.arrays], dtype=np.int64)
        self._piece_probs = self.window_counts / self.window_counts.sum()

    @property
    def min_length(self) -> int:
        return self.seq_len + 1

    def _prepare(self, index: int, array: np.ndarray) -> np.ndarray:
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

    def _example(self, piece: int, start: int, semitones: int = 0) -> np.ndarray:
        """Messages ``start .. start + W`` of ``piece`` (W + 1 rows), pitch as an index."""
        chunk = self.arrays[piece][start : start + self.seq_len + 1]
        if semitones:
            chunk = np.asarray(
                self.representation.transpose_array(chunk, semitones),
                dtype=np.int64,
            )
            if chunk.shape != (self.seq_len + 1, 3):
                raise DataError(
                    f"events transposition by {semitones} changed a window's shape to {chunk.shape}"
                )
        else:
            chunk = chunk.copy()
        chunk[:, 0] -= self.low
        return chunk

    def _transposition(self, chunk: np.ndarray, rng: np.random.Generator) -> int:
        """An interval from ``transpose_range`` that keeps ``chunk`` on the keyboard."""
        low, high = self.transpose_range
        low = max(low, self.low - int(chunk[:, 0].min()))
        high = min(high, self.high - int(chunk[:, 0].max()))
        if low > high:
            return 0
        return int(rng.integers(low, high + 1))

    def _collate(self, examples: list[np.ndarray]) -> Batch:
        stacked = torch.from_numpy(np.stack(examples))  # (B, W + 1, 3)
        return {"window": stacked[:, :-1].contiguous(), "target": stacked[:, -1].contiguous()}

    def training_batch(self, rng: np.random.Generator) -> Batch:
        """``batch_size`` random windows; pieces drawn in proportion to their window count."""
        pieces = rng.choice(len(self.arrays), size=self.batch_size, p=self._piece_probs)
        examples = []
        for piece in pieces:
            start = int(rng.integers(0, self.window_counts[piece]))
            semitones = 0
            if tuple(self.transpose_range) != (0, 0):
                raw = self.arrays[piece][start : start + self.seq_len + 1]
                semitones = self._transposition(raw, rng)
            examples.append(self._example(int(piece), start, semitones))
        return self._collate(examples)

    def eval_batches(self) -> Iterator[Batch]:
        """Windows evenly spaced over every piece, at most ``max_eval_batches`` batches."""
        chosen = evenly_spaced_windows(
            self.window_counts.tolist(), self.max_eval_batches * self.batch_size
        )
        for first in range(0, len(chosen), self.batch_size):
            group = chosen[first : first + self.batch_size]
            yield self._collate([self._example(piece, start) for piece, start in group])
