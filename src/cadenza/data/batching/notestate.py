"""Batches of note-state segments for the biaxial LSTM (family ``biaxial``).

Pieces are ``notestate`` arrays, (L, N, 2) uint8 ``[play, articulate]`` per step and note. A
training example is a window of ``seq_len + 1`` steps starting on a multiple of
``segment_step`` (16 steps = one 4/4 bar of 16th notes, as the original), split into

* ``features``: (B, T, N, 80) float32, ``representation.input_features(window[:-1],
  first_step=start)`` so the beat features count from the piece's first step;
* ``target``: (B, T, N, 2) float32, ``window[1:]``: the notes each step's features predict;
* ``mask``: (B, T) float32, 1 where a step of the piece is predicted, 0 on padding.

A piece shorter than a window (most JSB chorales, at one step per quarter note) is not
dropped: its one window starts at its first step and is padded with silence after its last,
and the padded steps are masked out of the loss. Since both LSTM axes run forward in time
or up the keyboard, padding after a piece never changes what its real steps predict.

Training windows may be transposed first (``representation.transpose_array``, a shift along
the note axis with zero fill) by a random number of semitones within ``transpose_range``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, cast

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker, evenly_spaced_windows
from cadenza.errors import DataError
from cadenza.representations.base import Representation

__all__ = ["NoteStateBatchMaker"]


class _NoteStateLike(Protocol):
    """What this module needs of the ``notestate`` representation."""

    def input_features(self, state: np.ndarray, first_step: int = 0) -> np.ndarray: ...

    def transpose_array(self, array: np.ndarray, semitones: int) -> np.ndarray: ...


class NoteStateBatchMaker(BatchMaker):
    """Random bar-aligned windows (training) and consecutive windows (evaluation)."""

    pads_short_pieces = True

    def __init__(
        self,
        arrays: Sequence[np.ndarray],
        representation: Representation,
        batch_size: int,
        seq_len: int,
        *,
        transpose_range: tuple[int, int] = (0, 0),
        max_eval_batches: int = 50,
        segment_step: int = 16,
    ) -> None:
        if segment_step <= 0:
            raise DataError(f"segment_step must be positive, got {segment_step}")
        expected = tuple(representation.feature_shape)  # (N, 2)
        for index, array in enumerate(arrays):
            if array.shape[1:] != expected:
                raise DataError(
                    f"notestate piece {index}: expected an array of shape "
                    f"(L, {', '.join(map(str, expected))}), got {array.shape}"
                )
        super().__init__(
            arrays,
            representation,
            batch_size,
            seq_len,
            transpose_range=transpose_range,
            max_eval_batches=max_eval_batches,
        )
        self.segment_step = segment_step
        self.notes = cast(_NoteStateLike, representation)
        # Number of allowed starts 0, step, 2*step, ... with start + seq_len + 1 <= length;
        # a piece shorter than a window has the one start 0 (padded).
        window = self.seq_len + 1
        self.start_counts = np.array(
            [max(len(a) - window, 0) // segment_step + 1 for a in self.arrays], dtype=np.int64
        )
        self._piece_probs = self.start_counts / self.start_counts.sum()

    @property
    def min_length(self) -> int:
        """Two steps: one to read and one to predict (shorter windows are padded)."""
        return 2

    def example(
        self, piece: int, start: int, semitones: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features (T, N, 80) float32, target (T, N, 2) float32 and mask (T,) float32 of
        one window, padded with silent steps (mask 0) where the piece ends inside it."""
        window = self.arrays[piece][start : start + self.seq_len + 1]  # (<= T + 1, N, 2)
        real = len(window) - 1  # predicted steps that belong to the piece
        if real < self.seq_len:
            pad = np.zeros((self.seq_len - real, *window.shape[1:]), dtype=window.dtype)
            window = np.concatenate([window, pad])
        if semitones:
            moved = np.asarray(self.notes.transpose_array(window, semitones))
            if moved.shape != window.shape:
                raise DataError(
                    f"notestate transposition by {semitones} changed a window's shape from "
                    f"{window.shape} to {moved.shape}"
                )
            window = moved
        features = np.asarray(
            self.notes.input_features(window[:-1], first_step=start), dtype=np.float32
        )
        mask = np.zeros(self.seq_len, dtype=np.float32)
        mask[:real] = 1.0
        return features, window[1:].astype(np.float32), mask

    @staticmethod
    def _collate(examples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Batch:
        return {
            "features": torch.from_numpy(np.stack([f for f, _, _ in examples])),  # (B, T, N, 80)
            "target": torch.from_numpy(np.stack([t for _, t, _ in examples])),  # (B, T, N, 2)
            "mask": torch.from_numpy(np.stack([m for _, _, m in examples])),  # (B, T)
        }

    def training_batch(self, rng: np.random.Generator) -> Batch:
        """``batch_size`` random windows; pieces drawn in proportion to their start count."""
        pieces = rng.choice(len(self.arrays), size=self.batch_size, p=self._piece_probs)
        examples = []
        for piece in pieces:
            start = int(rng.integers(0, self.start_counts[piece])) * self.segment_step
            semitones = self.random_transposition(rng)
            examples.append(self.example(int(piece), start, semitones))
        return self._collate(examples)

    def eval_batches(self) -> Iterator[Batch]:
        """Consecutive windows (stride ``seq_len``, so every predicted step appears once) over
        every piece in order, evenly thinned to at most ``max_eval_batches`` batches."""
        counts = [max(len(a) - self.seq_len - 1, 0) // self.seq_len + 1 for a in self.arrays]
        chosen = evenly_spaced_windows(counts, self.max_eval_batches * self.batch_size)
        for first in range(0, len(chosen), self.batch_size):
            group = chosen[first : first + self.batch_size]
            yield self._collate([self.example(p, i * self.seq_len) for p, i in group])
