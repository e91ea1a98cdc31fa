"""The corpus model: pieces with their split, composer, score and encoded array.

A :class:`Corpus` is what :func:`cadenza.data.pipeline.build_corpus` returns and what the
trainer, the evaluator and the sampler read: ``corpus.arrays("train")`` for batches,
``corpus.transpose_range("train")`` for augmentation, ``corpus.primers()`` for generation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from cadenza.data.augment import NO_TRANSPOSITION, check_transpose_range, transpose_range_for
from cadenza.data.cache import CacheStats
from cadenza.data.split import GENERATION, SplitConfig
from cadenza.errors import ConfigError, DataError
from cadenza.midi import ReadOptions, ReadSummary
from cadenza.representations.base import Representation
from cadenza.score import Score, TimeSignature, section_cuts

BENCHMARK_PRIMER_SPLIT = "test"  # benchmark sets have no generation split
DEFAULT_METER = (TimeSignature(0, 4, 4),)  # a score without time signature is in 4/4


@dataclass(frozen=True)
class CorpusConfig:
    """How a folder becomes a corpus; saved with every checkpoint.

    Attributes:
        meters: time signatures kept (``None`` keeps all), see :class:`ReadOptions`.
        min_notes: pieces with fewer notes after filtering are skipped as ``empty``.
        split: fractions of the train / valid / generation splits.
        transpose_range: inclusive semitone range of training-split augmentation.
    """

    meters: tuple[str, ...] | None = ("4/4",)
    min_notes: int = 1
    split: SplitConfig = field(default_factory=SplitConfig)
    transpose_range: tuple[int, int] = NO_TRANSPOSITION

    def __post_init__(self) -> None:
        if self.meters is not None and not isinstance(self.meters, tuple):
            raise ConfigError(f"meters must be a tuple of labels or None, got {self.meters!r}")
        check_transpose_range(self.transpose_range)
        self.read_options(1)  # validates meters and min_notes

    def read_options(self, steps_per_quarter: int) -> ReadOptions:
        """The :class:`ReadOptions` of this config at a representation's grid."""
        return ReadOptions(
            steps_per_quarter=steps_per_quarter,
            time_signatures=self.meters,
            min_notes=self.min_notes,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "meters": list(self.meters) if self.meters is not None else None,
            "min_notes": self.min_notes,
            "split": self.split.to_dict(),
            "transpose_range": list(self.transpose_range),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusConfig:
        meters = data.get("meters", ("4/4",))
        return cls(
            meters=tuple(meters) if meters is not None else None,
            min_notes=int(data.get("min_notes", 1)),
            split=SplitConfig.from_dict(data.get("split", {})),
            transpose_range=check_transpose_range(
                tuple(data.get("transpose_range", NO_TRANSPOSITION))
            ),
        )


@dataclass
class Piece:
    """One usable piece of the corpus.

    Attributes:
        path: path relative to the corpus root, with ``/`` separators (for a benchmark
            set, the piece's name ``"<split>-<index>"``).
        content_hash: SHA-256 of the file's bytes (of the notes for benchmark pieces).
        composer: from ``metadata.csv`` or the folder name, else ``None``.
        split: ``"train"``, ``"valid"`` or ``"generation"`` (``"test"`` in benchmark sets).
        score: the validated, quantised score (``ticks_per_quarter`` = steps per quarter).
        array: the representation's encoding of ``score``.
    """

    path: str
    content_hash: str
    composer: str | None
    split: str
    score: Score
    array: np.ndarray

    @property
    def name(self) -> str:
        return self.score.name


@dataclass
class Corpus:
    """The pieces of one folder (or benchmark file) encoded with one representation."""

    root: Path
    pieces: list[Piece]
    representation: Representation
    config: CorpusConfig
    summary: ReadSummary
    cache: CacheStats = field(default_factory=CacheStats)

    def __len__(self) -> int:
        return len(self.pieces)

    def split(self, name: str) -> list[Piece]:
        """The pieces of one split, in path order."""
        return [piece for piece in self.pieces if piece.split == name]

    def arrays(self, split: str) -> list[np.ndarray]:
        """The encoded pieces of one split, each cut where the metre filter removed music
        between two kept sections (:func:`cadenza.score.section_cuts`): what a model trains
        and is scored on never runs across such a cut."""
        return [array for _, array in self.piece_arrays(split)]

    def piece_arrays(self, split: str) -> list[tuple[Piece, np.ndarray]]:
        """:meth:`arrays` with the piece each part comes from (for per-piece labels)."""
        out: list[tuple[Piece, np.ndarray]] = []
        for piece in self.split(split):
            parts = split_at_cuts(piece.array, section_cuts(piece.score), self.representation)
            out.extend((piece, part) for part in parts)
        return out

    def scores(self, split: str) -> list[Score]:
        return [piece.score for piece in self.split(split)]

    def split_counts(self) -> dict[str, int]:
        """Number of pieces per split."""
        return dict(Counter(piece.split for piece in self.pieces))

    def composers(self) -> Counter[str]:
        """Number of pieces per composer (unknown composers are not counted)."""
        return Counter(piece.composer for piece in self.pieces if piece.composer is not None)

    def time_signatures(self) -> Counter[str]:
        """Number of pieces in which each time signature occurs (after metre filtering)."""
        return Counter(
            label
            for piece in self.pieces
            for label in {sig.label for sig in piece.score.time_signatures or DEFAULT_METER}
        )

    def transpose_range(self, split: str) -> tuple[int, int]:
        """Augmentation range for a batch maker of ``split``: ``(0, 0)`` unless training."""
        return transpose_range_for(split, self.config.transpose_range)

    @property
    def primer_split(self) -> str:
        """The split primers come from: ``generation``, or ``test`` for benchmark sets."""
        names = {piece.split for piece in self.pieces}
        if GENERATION not in names and BENCHMARK_PRIMER_SPLIT in names:
            return BENCHMARK_PRIMER_SPLIT
        return GENERATION

    def primers(self, composer: str | None = None) -> list[Piece]:
        """Pieces never trained on, to prime generation (optionally of one composer).

        Raises:
            DataError: no such piece exists.
        """
        pieces = [p for p in self.split(self.primer_split)
                  if composer is None or p.composer == composer]
        if not pieces:
            known = ", ".join(sorted({p.composer for p in self.split(self.primer_split)
                                      if p.composer})) or "none"
            who = f" by {composer!r}" if composer else ""
            raise DataError(
                f"{self.root}: no {self.primer_split} piece{who} to use as a primer "
                f"(composers there: {known})"
            )
        return pieces


def split_at_cuts(array: np.ndarray, cuts: list[int], representation: Representation
                  ) -> list[np.ndarray]:
    """``array`` in parts that begin at the first element whose onset is at or after each cut
    tick (onsets never decrease along an encoding, so each is found by bisection)."""
    if not cuts:
        return [array]
    starts = [0]
    for tick in cuts:
        index = representation.index_at_tick(array, tick)
        if starts[-1] < index < len(array):
            starts.append(index)
    bounds = [*starts, len(array)]
    return [array[a:b] for a, b in pairwise(bounds)]
