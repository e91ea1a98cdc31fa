"""Transposition augmentation, for the training split only.

Scores are transposed with :meth:`Score.transpose`; batch makers transpose encoded arrays
themselves within the range :func:`transpose_range_for` gives them. Validation and
generation pieces are never augmented, so their losses and primers stay comparable.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cadenza.data.split import TRAIN
from cadenza.score import Score
from cadenza.transpose import check_transpose_range

NO_TRANSPOSITION = (0, 0)


def transpose_score(score: Score, semitones: int) -> Score:
    """``score`` shifted by ``semitones`` (notes leaving MIDI 0..127 are dropped)."""
    return score.transpose(semitones)


def transpose_range_for(split: str, semitones: tuple[int, int]) -> tuple[int, int]:
    """The transposition range a batch maker of ``split`` may draw from.

    The configured range for the training split, ``(0, 0)`` (no augmentation) for any other.
    """
    return check_transpose_range(semitones) if split == TRAIN else NO_TRANSPOSITION


def augmented_scores(
    scores: Sequence[Score], split: str, semitones: tuple[int, int]
) -> Iterator[Score]:
    """Every score of ``split`` at every allowed transposition (the original first).

    For the training split this yields each score once per semitone in the range (the
    untransposed one included); for any other split it yields the scores unchanged.
    """
    low, high = transpose_range_for(split, semitones)
    shifts = [0, *(s for s in range(low, high + 1) if s != 0)]
    for score in scores:
        for shift in shifts:
            yield score if shift == 0 else transpose_score(score, shift)
