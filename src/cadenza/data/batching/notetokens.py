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

import numpy as np
import torch

from cadenza.data.batching.base import Batch, BatchMaker
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

    family = "notetokens"

    def configure(self) -> None:
        representation = self.representation
        self.can_transpose = supports_transposition(representation)
        if self.transposes and not self.can_transpose:
            log.warning(
                "%s representation cannot transpose: training without transposition",
                getattr(representation, "name", type(representation).__name__),
            )

    def prepare(self, index: int, array: np.ndarray) -> np.ndarray:
        return np.array(array, dtype=np.int64)

    def transpose_window(self, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``window`` moved by a random interval that adds no ``<unk>`` element."""
        if not self.can_transpose:
            return window
        unknown = int(np.count_nonzero(window[:, 0] == UNKNOWN_ID))

        def adds_no_unknown(moved: np.ndarray) -> bool:
            return bool(np.count_nonzero(moved[:, 0] == UNKNOWN_ID) <= unknown)

        moved = self.first_acceptable(window, rng, adds_no_unknown, keeps_shape=True)
        return np.asarray(moved, dtype=np.int64)

    def example(self, window: np.ndarray, start: int) -> np.ndarray:
        return window

    def collate(self, examples: list[np.ndarray]) -> Batch:
        stacked = torch.from_numpy(np.stack(examples))  # (B, T + 1, 3)
        return {"inputs": stacked[:, :-1].contiguous(), "targets": stacked[:, 1:].contiguous()}
