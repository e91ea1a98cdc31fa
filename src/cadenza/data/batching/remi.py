"""Batches of token windows for the transformer (family ``transformer``).

Pieces are ``remi`` arrays, (L,) int token ids. A training example is ``seq_len + 1``
consecutive tokens starting at a ``BAR`` token (as a primer does), split into

* ``inputs``: (B, T) long, tokens ``0 .. T-1`` of the window;
* ``targets``: (B, T) long, tokens ``1 .. T`` (the next token at every position).

Training windows may be transposed by an interval from ``transpose_range``: intervals are tried
in random order and the first that keeps every note of the window on the keyboard is used (0
always qualifies), so windows keep their length and no note is lost to augmentation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker, evenly_spaced_windows
from cadenza.errors import DataError
from cadenza.representations.base import Representation
from cadenza.representations.remi import BAR

__all__ = ["RemiBatchMaker"]


class RemiBatchMaker(BatchMaker):
    """Random (training) and evenly spaced, non-overlapping (evaluation) token windows."""

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
            if np.asarray(array).ndim != 1:
                raise DataError(f"remi piece {index}: expected a 1-D array of token ids, got "
                                f"shape {np.asarray(array).shape}")
        super().__init__(arrays, representation, batch_size, seq_len,
                         transpose_range=transpose_range, max_eval_batches=max_eval_batches)
        self.arrays = [np.asarray(a, dtype=np.int64) for a in self.arrays]
        # Windows start at BAR tokens that leave room for a whole window.
        self.starts = [np.flatnonzero(a[: len(a) - seq_len] == BAR) for a in self.arrays]
        counts = np.array([len(s) for s in self.starts], dtype=np.float64)
        if counts.sum() == 0:
            raise DataError("no remi piece has a bar line with a whole window after it")
        self._piece_probs = counts / counts.sum()
        self.transpositions: Counter[int] = Counter()

    @property
    def min_length(self) -> int:
        return self.seq_len + 1

    def _window(self, piece: int, start: int) -> np.ndarray:
        return self.arrays[piece][start : start + self.seq_len + 1]

    def _transposed(self, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``window`` moved by a random interval that keeps all its notes."""
        low, high = self.transpose_range
        for semitones in rng.permutation(np.arange(low, high + 1)):
            if semitones == 0:
                break
            moved = self.representation.transpose_array(window, int(semitones))
            if len(moved) == len(window):
                self.transpositions[int(semitones)] += 1
                return np.asarray(moved, dtype=np.int64)
        self.transpositions[0] += 1
        return window

    @staticmethod
    def _collate(windows: list[np.ndarray]) -> Batch:
        stacked = torch.from_numpy(np.stack(windows))  # (B, T + 1)
        return {"inputs": stacked[:, :-1].contiguous(), "targets": stacked[:, 1:].contiguous()}

    def training_batch(self, rng: np.random.Generator) -> Batch:
        """``batch_size`` random windows; pieces drawn in proportion to their bar lines."""
        pieces = rng.choice(len(self.arrays), size=self.batch_size, p=self._piece_probs)
        windows = []
        for piece in pieces:
            starts = self.starts[int(piece)]
            window = self._window(int(piece), int(starts[rng.integers(0, len(starts))]))
            if tuple(self.transpose_range) != (0, 0):
                window = self._transposed(window, rng)
            windows.append(window)
        return self._collate(windows)

    def eval_batches(self) -> Iterator[Batch]:
        """Non-overlapping windows (stride ``seq_len``) over every piece, evenly thinned to
        at most ``max_eval_batches`` batches."""
        counts = [(len(a) - self.seq_len - 1) // self.seq_len + 1 for a in self.arrays]
        chosen = evenly_spaced_windows(counts, self.max_eval_batches * self.batch_size)
        for first in range(0, len(chosen), self.batch_size):
            group = chosen[first : first + self.batch_size]
            yield self._collate(
                [self._window(piece, index * self.seq_len) for piece, index in group])
