"""How encoded pieces become training and validation batches.

Each model family has one :class:`BatchMaker` subclass (``cadenza.data.batching.<family>``).
It holds the encoded arrays of one split and yields ``dict[str, torch.Tensor]`` batches whose
keys the family's ``loss(batch)`` reads.

* ``training_batch(rng)``: a random batch (random pieces, random windows, random transposition
  within ``transpose_range`` when augmentation is on). Only the training split is augmented.
* ``eval_batches()``: a deterministic sweep over the split (same batches every call) used for
  validation loss, capped at ``max_eval_batches``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import ClassVar

import numpy as np
import torch

from cadenza.errors import DataError
from cadenza.representations.base import Representation

Batch = dict[str, torch.Tensor]


class BatchMaker(ABC):
    """Turns a split's encoded arrays into batches for one model family."""

    #: True where a piece shorter than a window is padded (and masked) instead of dropped.
    pads_short_pieces: ClassVar[bool] = False

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
        if batch_size <= 0 or seq_len <= 0:
            raise DataError(f"batch_size and seq_len must be positive, got {batch_size}, {seq_len}")
        self.representation = representation
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.transpose_range = transpose_range
        self.max_eval_batches = max_eval_batches
        self.arrays = [a for a in arrays if len(a) >= self.min_length]
        if not self.arrays:
            raise DataError(
                f"no piece is long enough: need at least {self.min_length} steps/tokens "
                f"(got {len(arrays)} pieces, longest {max((len(a) for a in arrays), default=0)})"
            )

    @property
    @abstractmethod
    def min_length(self) -> int:
        """Shortest encoded piece (along axis 0) that can give one training example."""

    @abstractmethod
    def training_batch(self, rng: np.random.Generator) -> Batch:
        """A random training batch drawn with ``rng``."""

    @abstractmethod
    def eval_batches(self) -> Iterator[Batch]:
        """Deterministic validation batches covering the split (at most ``max_eval_batches``)."""

    def random_transposition(self, rng: np.random.Generator) -> int:
        low, high = self.transpose_range
        return int(rng.integers(low, high + 1)) if high > low else low


def evenly_spaced_windows(counts: Sequence[int], limit: int) -> list[tuple[int, int]]:
    """Pick at most ``limit`` candidates spread evenly over pieces that have ``counts`` each.

    Candidates are numbered piece after piece; the result lists ``(piece, candidate index
    within the piece)`` in order, every candidate when there are no more than ``limit``.
    """
    counts_array = np.asarray(counts, dtype=np.int64)
    total = int(counts_array.sum())
    if total <= 0 or limit <= 0:
        return []
    take = min(total, limit)
    chosen = (np.arange(take, dtype=np.int64) * total) // take  # distinct, evenly spaced
    ends = np.cumsum(counts_array)
    pieces = np.searchsorted(ends, chosen, side="right")
    offsets = chosen - (ends[pieces] - counts_array[pieces])
    return [(int(p), int(o)) for p, o in zip(pieces, offsets, strict=True)]
