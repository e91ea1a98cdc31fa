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
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from cadenza.errors import DataError
from cadenza.representations.base import Representation

Batch = dict[str, torch.Tensor]


class BatchMaker(ABC):
    """Turns a split's encoded arrays into batches for one model family (a template).

    The base class owns what every family shares: checking and keeping the pieces, drawing
    pieces in proportion to their training starts, the training and evaluation loops, and
    transposing a window through the representation. A family supplies

    * if needed, :meth:`prepare` (the array kept for a piece, after the base class has
      checked its shape against the representation's);
    * :meth:`starts` (where a training window may begin) and, if not every ``seq_len``
      steps, :meth:`eval_starts`;
    * :meth:`example` (one window -> the arrays of one example) and :meth:`collate`;
    * optionally :meth:`transpose_window` (which interval a window may move by).
    """

    #: The family's name, used in error messages.
    family: ClassVar[str] = "model"
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
        styles: Sequence[int] | None = None,
    ) -> None:
        if batch_size <= 0 or seq_len <= 0:
            raise DataError(f"batch_size and seq_len must be positive, got {batch_size}, {seq_len}")
        self.representation = representation
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.transpose_range = transpose_range
        self.max_eval_batches = max_eval_batches
        self.transpositions: Counter[int] = Counter()  # intervals used by training batches
        self.configure()
        for index, array in enumerate(arrays):
            self.check_piece(index, np.asarray(array))
        kept = [(index, a) for index, a in enumerate(arrays) if len(a) >= self.min_length]
        if not kept:
            raise DataError(
                f"no piece is long enough: need at least {self.min_length} steps/tokens "
                f"(got {len(arrays)} pieces, longest {max((len(a) for a in arrays), default=0)})"
            )
        self.arrays = [self.prepare(index, array) for index, array in kept]
        if styles is not None and len(styles) != len(arrays):
            raise DataError(f"{len(styles)} style labels for {len(arrays)} pieces")
        # A styled run's label of every kept piece, handed on as each batch's ``style``.
        self.styles = ([int(styles[index]) for index, _ in kept]
                       if styles is not None else None)
        self.training_starts = [np.asarray(self.starts(a), dtype=np.int64) for a in self.arrays]
        counts = np.array([len(s) for s in self.training_starts], dtype=np.float64)
        if counts.sum() == 0:
            raise DataError(f"no {self.family} piece has room for a whole training window")
        self._piece_probs = counts / counts.sum()

    # -- what a family supplies ---------------------------------------------------------
    def configure(self) -> None:
        """Read what the family needs from ``self.representation`` before the pieces are
        checked and prepared (the settings above are already set). Nothing by default."""
        return None

    @property
    def min_length(self) -> int:
        """Shortest encoded piece (along axis 0) that can give one training example."""
        return self.seq_len + 1

    def check_piece(self, index: int, array: np.ndarray) -> None:
        """Raise :class:`DataError` naming piece ``index`` when its array is not (L, *the
        representation's feature shape*)."""
        shape = tuple(self.representation.feature_shape)
        if array.ndim != 1 + len(shape) or array.shape[1:] != shape:
            dims = ", ".join(["L", *map(str, shape)])
            raise DataError(f"{self.family} piece {index}: expected a {1 + len(shape)}-D array "
                            f"of shape ({dims}), got shape {array.shape}")

    def prepare(self, index: int, array: np.ndarray) -> np.ndarray:
        """The array kept for piece ``index`` (by default the array itself)."""
        return array

    def starts(self, array: np.ndarray) -> np.ndarray:
        """Where a training window of ``array`` may start (default: anywhere it fits)."""
        return np.arange(max(len(array) - self.seq_len, 0))

    def eval_starts(self, array: np.ndarray) -> np.ndarray:
        """Starts of the evaluation windows (default: consecutive, stride ``seq_len``, so
        every predicted position appears once)."""
        count = max(len(array) - self.seq_len - 1, 0) // self.seq_len + 1
        return np.arange(count) * self.seq_len

    @abstractmethod
    def example(self, window: np.ndarray, start: int) -> Any:
        """One example from ``window``: up to ``seq_len + 1`` rows starting at ``start``."""

    @abstractmethod
    def collate(self, examples: list[Any]) -> Batch:
        """A batch of tensors from a list of :meth:`example` results."""

    # -- shared machinery ---------------------------------------------------------------
    def window(self, piece: int, start: int) -> np.ndarray:
        """Rows ``start .. start + seq_len`` of ``piece`` (fewer where the piece ends)."""
        return self.arrays[piece][start : start + self.seq_len + 1]

    def moved(self, window: np.ndarray, semitones: int) -> np.ndarray:
        """``window`` transposed by the representation; a change of shape is an error."""
        moved = np.asarray(self.representation.transpose_array(window, semitones))
        if moved.shape != window.shape:
            raise DataError(
                f"{self.family} transposition by {semitones} changed a window's shape from "
                f"{window.shape} to {moved.shape}"
            )
        return moved

    def random_transposition(self, rng: np.random.Generator) -> int:
        low, high = self.transpose_range
        return int(rng.integers(low, high + 1)) if high > low else low

    def transpose_window(self, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``window`` moved by a random interval of ``transpose_range`` (default: any)."""
        semitones = self.random_transposition(rng)
        self.transpositions[semitones] += 1
        return self.moved(window, semitones) if semitones else window

    def first_acceptable(
        self,
        window: np.ndarray,
        rng: np.random.Generator,
        accept: Callable[[np.ndarray], bool],
        *,
        keeps_shape: bool = False,
    ) -> np.ndarray:
        """``window`` moved by the first interval, in random order, whose result ``accept``
        takes; unmoved when 0 comes first or nothing qualifies. With ``keeps_shape`` a
        transposition that changes the window's shape is an error (see :meth:`moved`)."""
        low, high = self.transpose_range
        for semitones in rng.permutation(np.arange(low, high + 1)):
            if semitones == 0:
                break
            moved = (self.moved(window, int(semitones)) if keeps_shape else
                     np.asarray(self.representation.transpose_array(window, int(semitones))))
            if accept(moved):
                self.transpositions[int(semitones)] += 1
                return moved
        self.transpositions[0] += 1
        return window

    @property
    def transposes(self) -> bool:
        """True when training windows are transposed."""
        return tuple(self.transpose_range) != (0, 0)

    def training_batch(self, rng: np.random.Generator) -> Batch:
        """``batch_size`` random windows; pieces drawn in proportion to their start count."""
        pieces = rng.choice(len(self.arrays), size=self.batch_size, p=self._piece_probs)
        examples = []
        for piece in pieces:
            starts = self.training_starts[int(piece)]
            start = int(starts[rng.integers(0, len(starts))])
            window = self.window(int(piece), start)
            if self.transposes:
                window = self.transpose_window(window, rng)
            examples.append(self.training_example(window, start, rng))
        return self.with_styles(self.collate(examples), [int(p) for p in pieces])

    def with_styles(self, batch: Batch, pieces: list[int]) -> Batch:
        """``batch`` with ``style``, (B,) int64 the style of each example's piece, in a
        styled run; unchanged otherwise."""
        if self.styles is None:
            return batch
        return {**batch, "style": torch.tensor([self.styles[p] for p in pieces],
                                               dtype=torch.int64)}

    def training_example(self, window: np.ndarray, start: int, rng: np.random.Generator) -> Any:
        """One training example; :meth:`example` unless a family adds training-only noise."""
        return self.example(window, start)

    def eval_batches(self) -> Iterator[Batch]:
        """Deterministic validation batches over every piece in order (same batches every
        call), evenly thinned to at most ``max_eval_batches`` batches."""
        starts = [self.eval_starts(a) for a in self.arrays]
        chosen = evenly_spaced_windows(
            [len(s) for s in starts], self.max_eval_batches * self.batch_size
        )
        for first in range(0, len(chosen), self.batch_size):
            group = [(piece, int(starts[piece][i]))
                     for piece, i in chosen[first : first + self.batch_size]]
            batch = self.collate([self.example(self.window(p, start), start) for p, start in group])
            yield self.with_styles(batch, [p for p, _ in group])


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
