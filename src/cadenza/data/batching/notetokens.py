"""Batches of token windows for the note/chord token LSTM (family ``notetokens``).

Pieces are ``notetokens`` arrays, (L, 3) int ids ``[element, duration, shift]``. A training
example is ``seq_len + 1`` consecutive tokens, split into

* ``inputs``: (B, T, 3) long, tokens ``0 .. T-1`` of the window;
* ``targets``: (B, T, 3) long, tokens ``1 .. T`` (the next token at every position).

Training transposition goes through ``representation.transpose_array`` when the representation
has one; otherwise augmentation is skipped (logged once). An interval is used only when it turns
no known element of the window into ``<unk>`` (a chord the vocabulary never saw in that key):
intervals are tried in random order and the first such one is taken (0 always qualifies), so
the model is not taught to predict ``<unk>`` more often than the data has it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker, evenly_spaced_windows
from cadenza.errors import DataError
from cadenza.representations.base import Representation
from cadenza.representations.notetokens import UNKNOWN_ID

__all__ = ["NoteTokensBatchMaker", "supports_transposition"]

log = logging.getLogger(__name__)


def supports_transposition(representation: object) -> bool:
    """True when ``representation`` overrides :meth:`Representation.transpose_array`."""
    method = getattr(type(representation), "transpose_array", None)
    return callable(method) and method is not Representation.transpose_array


class NoteTokensBatchMaker(BatchMaker):
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
            if array.ndim != 2 or array.shape[1] != 3:
                raise DataError(
                    f"notetokens piece {index}: expected an array of shape (L, 3), "
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
        self.arrays = [np.array(a, dtype=np.int64) for a in self.arrays]
        self.start_counts = np.array([len(a) - seq_len for a in self.arrays], dtype=np.int64)
        self._piece_probs = self.start_counts / self.start_counts.sum()
        self.can_transpose = supports_transposition(representation)
        self.transpositions: Counter[int] = Counter()  # intervals used by training batches
        if tuple(transpose_range) != (0, 0) and not self.can_transpose:
            log.warning(
                "%s representation cannot transpose: training without transposition",
                getattr(representation, "name", type(representation).__name__),
            )

    @property
    def min_length(self) -> int:
        return self.seq_len + 1

    def _window(self, piece: int, start: int) -> np.ndarray:
        """Tokens ``start .. start + T`` of ``piece`` (T + 1 rows)."""
        return self.arrays[piece][start : start + self.seq_len + 1]

    def _transposed(self, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``window`` moved by a random interval that adds no ``<unk>`` element."""
        low, high = self.transpose_range
        unknown = int(np.count_nonzero(window[:, 0] == UNKNOWN_ID))
        for semitones in rng.permutation(np.arange(low, high + 1)):
            if semitones == 0:
                break
            moved = np.asarray(
                self.representation.transpose_array(window, int(semitones)),
                dtype=np.int64,
            )
            if moved.shape != window.shape:
                raise DataError(
                    f"notetokens transposition by {semitones} changed a window's shape from "
                    f"{window.shape} to {moved.shape}"
                )
            if np.count_nonzero(moved[:, 0] == UNKNOWN_ID) <= unknown:
                self.transpositions[int(semitones)] += 1
                return moved
        self.transpositions[0] += 1
        return window

    @staticmethod
    def _collate(windows: list[np.ndarray]) -> Batch:
        stacked = torch.from_numpy(np.stack(windows))  # (B, T + 1, 3)
        return {"inputs": stacked[:, :-1].contiguous(), "targets": stacked[:, 1:].contiguous()}

    def training_batch(self, rng: np.random.Generator) -> Batch:
        """``batch_size`` random windows; pieces drawn in proportion to their start count."""
        pieces = rng.choice(len(self.arrays), size=self.batch_size, p=self._piece_probs)
        windows = []
        for piece in pieces:
            window = self._window(int(piece), int(rng.integers(0, self.start_counts[piece])))
            if self.can_transpose and tuple(self.transpose_range) != (0, 0):
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
                [self._window(piece, index * self.seq_len) for piece, index in group]
            )
