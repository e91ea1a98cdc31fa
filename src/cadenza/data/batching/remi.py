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

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker
from cadenza.representations.remi import BAR

__all__ = ["RemiBatchMaker"]


class RemiBatchMaker(BatchMaker):
    """Random (training) and evenly spaced, non-overlapping (evaluation) token windows."""

    family = "remi"

    def prepare(self, index: int, array: np.ndarray) -> np.ndarray:
        return np.asarray(array, dtype=np.int64)

    def starts(self, array: np.ndarray) -> np.ndarray:
        """``BAR`` tokens that leave room for a whole window."""
        return np.flatnonzero(array[: len(array) - self.seq_len] == BAR)

    def transpose_window(self, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``window`` moved by a random interval that keeps all its notes."""
        moved = self.first_acceptable(window, rng, lambda moved: len(moved) == len(window))
        return np.asarray(moved, dtype=np.int64)

    def example(self, window: np.ndarray, start: int) -> np.ndarray:
        return window

    def collate(self, examples: list[np.ndarray]) -> Batch:
        stacked = torch.from_numpy(np.stack(examples))  # (B, T + 1)
        return {"inputs": stacked[:, :-1].contiguous(), "targets": stacked[:, 1:].contiguous()}
