"""Batches of piano-roll windows for the piano-roll LSTM (family ``pianoroll``).

Pieces are ``pianoroll`` arrays, (L, 88) uint8 with 1 where a key sounds. A training example
is ``seq_len + 1`` consecutive frames from any start, split into

* ``inputs``: (B, T, 88) float32, frames ``0 .. T-1`` of the window;
* ``targets``: (B, T, 88) float32, frames ``1 .. T`` (the next frame at every position).

Training windows may be transposed first (``representation.transpose_array``, a shift along
the key axis with zero fill) by a random number of semitones within ``transpose_range``.
Pieces shorter than a window are skipped (the original repeated them to fill the window).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, cast

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker, evenly_spaced_windows
from cadenza.errors import DataError
from cadenza.representations.base import Representation

__all__ = ["PianoRollBatchMaker"]


class _PianoRollLike(Protocol):
    """What this module needs of the ``pianoroll`` representation."""

    def transpose_array(self, array: np.ndarray, semitones: int) -> np.ndarray: ...


class PianoRollBatchMaker(BatchMaker):
    """Random (training) and consecutive (evaluation) windows of frames."""

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
        expected = tuple(representation.feature_shape)  # (K,)
        for index, array in enumerate(arrays):
            if array.shape[1:] != expected:
                raise DataError(
                    f"pianoroll piece {index}: expected an array of shape (L, {expected[0]}), "
                    f"got {array.shape}"
                )
        super().__init__(
            arrays,
            representation,
            batch_size,
            seq_len,
            transpose_range=transpose_range,
            max_eval_batches=max_eval_batches,
        )
        self.rolls = cast(_PianoRollLike, representation)
        self.start_counts = np.array([len(a) - self.min_length + 1 for a in self.arrays])
        self._piece_probs = self.start_counts / self.start_counts.sum()

    @property
    def min_length(self) -> int:
        return self.seq_len + 1

    def window(self, piece: int, start: int, semitones: int = 0) -> np.ndarray:
        """Frames ``start .. start + T`` of ``piece`` as float32 (T + 1, keys), transposed."""
        chunk = self.arrays[piece][start : start + self.seq_len + 1]
        if semitones:
            moved = np.asarray(self.rolls.transpose_array(chunk, semitones))
            if moved.shape != chunk.shape:
                raise DataError(
                    f"pianoroll transposition by {semitones} changed a window's shape from "
                    f"{chunk.shape} to {moved.shape}"
                )
            chunk = moved
        return chunk.astype(np.float32)

    @staticmethod
    def _collate(windows: list[np.ndarray]) -> Batch:
        stacked = torch.from_numpy(np.stack(windows))  # (B, T + 1, keys)
        return {"inputs": stacked[:, :-1].contiguous(), "targets": stacked[:, 1:].contiguous()}

    def training_batch(self, rng: np.random.Generator) -> Batch:
        """``batch_size`` random windows; pieces drawn in proportion to their start count."""
        pieces = rng.choice(len(self.arrays), size=self.batch_size, p=self._piece_probs)
        windows = []
        for piece in pieces:
            start = int(rng.integers(0, self.start_counts[piece]))
            windows.append(self.window(int(piece), start, self.random_transposition(rng)))
        return self._collate(windows)

    def eval_batches(self) -> Iterator[Batch]:
        """Consecutive windows (stride ``seq_len``, so every predicted frame appears once) over
        every piece in order, evenly thinned to at most ``max_eval_batches`` batches."""
        counts = [(len(a) - self.min_length) // self.seq_len + 1 for a in self.arrays]
        chosen = evenly_spaced_windows(counts, self.max_eval_batches * self.batch_size)
        for first in range(0, len(chosen), self.batch_size):
            group = chosen[first : first + self.batch_size]
            yield self._collate([self.window(p, i * self.seq_len) for p, i in group])
