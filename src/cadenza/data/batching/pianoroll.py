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

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker

__all__ = ["PianoRollBatchMaker"]


class PianoRollBatchMaker(BatchMaker):
    """Random (training) and consecutive (evaluation) windows of frames."""

    family = "pianoroll"

    def example(self, window: np.ndarray, start: int) -> np.ndarray:
        """Frames ``start .. start + T`` as float32 (T + 1, keys)."""
        return window.astype(np.float32)

    def collate(self, examples: list[np.ndarray]) -> Batch:
        stacked = torch.from_numpy(np.stack(examples))  # (B, T + 1, keys)
        return {"inputs": stacked[:, :-1].contiguous(), "targets": stacked[:, 1:].contiguous()}
