"""Batches of note-state segments for the biaxial LSTM (family ``biaxial``).

Pieces are ``notestate`` arrays, (L, N, 2) uint8 ``[play, articulate]`` per step and note. A
training example is a window of ``seq_len + 1`` steps starting on a multiple of
``segment_step`` (16 steps = one 4/4 bar of 16th notes, as the original), split into

* ``features``: (B, T, N, 80) float32, ``representation.input_features(window[:-1],
  first_step=start)`` so the beat features count from the piece's first step;
* ``target``: (B, T, N, 2) float32, ``window[1:]``: the notes each step's features predict;
* ``mask``: (B, T) float32, 1 where a step of the piece is predicted, 0 on padding;
* ``style``: (B,) int64 in a styled run, each window's piece's style (see the base class).

A piece shorter than a window (most JSB chorales, at one step per quarter note) is not
dropped: its one window starts at its first step and is padded with silence after its last,
and the padded steps are masked out of the loss. Since both LSTM axes run forward in time
or up the keyboard, padding after a piece never changes what its real steps predict.

Training windows may be transposed first (``representation.transpose_array``, a shift along
the note axis with zero fill) by a random number of semitones within ``transpose_range``.
With ``input_noise`` the steps a training window's features are read from get rhythmic slips
(:mod:`cadenza.data.batching.inputnoise`); its targets and every validation batch stay true.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker
from cadenza.data.batching.inputnoise import corrupt_onsets
from cadenza.errors import DataError
from cadenza.representations.base import Representation

__all__ = ["NoteStateBatchMaker"]


class _NoteStateLike(Protocol):
    """What this module needs of the ``notestate`` representation."""

    def input_features(self, state: np.ndarray, first_step: int = 0) -> np.ndarray: ...

    def transpose_array(self, array: np.ndarray, semitones: int) -> np.ndarray: ...


class NoteStateBatchMaker(BatchMaker):
    """Random bar-aligned windows (training) and consecutive windows (evaluation)."""

    family = "notestate"
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
        input_noise: float = 0.0,
        styles: Sequence[int] | None = None,
    ) -> None:
        if segment_step <= 0:
            raise DataError(f"segment_step must be positive, got {segment_step}")
        if not 0.0 <= input_noise < 1.0:
            raise DataError(f"input_noise must be in [0, 1), got {input_noise}")
        self.segment_step = segment_step
        self.input_noise = input_noise
        self.notes = cast(_NoteStateLike, representation)
        super().__init__(arrays, representation, batch_size, seq_len,
                         transpose_range=transpose_range, max_eval_batches=max_eval_batches,
                         styles=styles)

    @property
    def min_length(self) -> int:
        """Two steps: one to read and one to predict (shorter windows are padded)."""
        return 2

    def starts(self, array: np.ndarray) -> np.ndarray:
        """0, step, 2 * step, ... while a whole window fits; 0 alone in a shorter piece."""
        count = max(len(array) - self.seq_len - 1, 0) // self.segment_step + 1
        return np.arange(count) * self.segment_step

    def example(self, window: np.ndarray, start: int, rng: np.random.Generator | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features (T, N, 80) float32, target (T, N, 2) float32 and mask (T,) float32 of
        one window, padded with silent steps (mask 0) where the piece ends inside it. With
        ``rng`` the features are read from the window's steps with ``input_noise`` slips."""
        real = len(window) - 1  # predicted steps that belong to the piece
        if real < self.seq_len:
            pad = np.zeros((self.seq_len - real, *window.shape[1:]), dtype=window.dtype)
            window = np.concatenate([window, pad])
        read = window[:-1]
        if rng is not None and self.input_noise > 0:
            read = corrupt_onsets(read, self.input_noise, rng)
        features = np.asarray(self.notes.input_features(read, first_step=start), dtype=np.float32)
        mask = np.zeros(self.seq_len, dtype=np.float32)
        mask[:real] = 1.0
        return features, window[1:].astype(np.float32), mask

    def training_example(self, window: np.ndarray, start: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.example(window, start, rng)

    def collate(self, examples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Batch:
        return {
            "features": torch.from_numpy(np.stack([f for f, _, _ in examples])),  # (B, T, N, 80)
            "target": torch.from_numpy(np.stack([t for _, t, _ in examples])),  # (B, T, N, 2)
            "mask": torch.from_numpy(np.stack([m for _, _, m in examples])),  # (B, T)
        }
