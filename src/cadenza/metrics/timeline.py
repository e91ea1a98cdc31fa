"""The time grid every metric reads: sounding piano roll, onsets, beats and bars.

A metric works on a quantised :class:`~cadenza.score.Score`, where one tick is one grid step
(``ticks_per_quarter == steps_per_quarter``). Its span is ``[0, score.end_tick)``: silence
before the first note counts, nothing after the last note ends does. A *beat* is a quarter
note (``ticks_per_quarter`` steps) whatever the metre; *bars* follow the score's time
signatures (4/4 when it has none).
"""

from __future__ import annotations

from fractions import Fraction
from math import floor

import numpy as np

from cadenza.errors import DataError
from cadenza.score import Score, TimeSignature, bar_ticks

NUM_PITCHES = 128


def require_notes(score: Score, metric: str) -> None:
    """Raise unless ``score`` has notes, a positive length and no negative onset.

    Raises:
        DataError: naming the score and the metric that cannot be defined on it.
    """
    label = repr(score.name) if score.name else "<unnamed>"
    if score.num_notes == 0:
        raise DataError(f"score {label} has no notes: {metric} is undefined")
    if score.end_tick <= 0:
        raise DataError(f"score {label} lasts 0 ticks: {metric} is undefined")
    if int(score.notes["start"].min()) < 0:
        raise DataError(f"score {label} has a note before tick 0: {metric} expects ticks >= 0")


def sounding_roll(score: Score) -> np.ndarray:
    """Which pitches sound at each step: bool array of shape ``(end_tick, 128)``.

    A note sounds from its start (inclusive) to its end (exclusive); a zero-length note never
    sounds. Two overlapping notes of one pitch make that pitch sound once.
    """
    steps = score.end_tick
    notes = score.notes
    change = np.zeros((steps + 1, NUM_PITCHES), dtype=np.int32)  # (T + 1, 128)
    pitch = notes["pitch"].astype(np.int64)
    np.add.at(change, (notes["start"], pitch), 1)
    np.add.at(change, (notes["start"] + notes["duration"], pitch), -1)
    return np.cumsum(change[:-1], axis=0) > 0  # (T, 128)


def sounding_counts(score: Score) -> np.ndarray:
    """Number of distinct pitches sounding at each step, shape ``(end_tick,)``."""
    return sounding_roll(score).sum(axis=1)


def onset_steps(score: Score) -> np.ndarray:
    """Bool array of shape ``(end_tick,)``: True at steps where at least one note starts."""
    onsets = np.zeros(score.end_tick, dtype=bool)
    onsets[score.notes["start"]] = True
    return onsets


def num_beats(score: Score) -> int:
    """Quarter notes spanned by the score: ``ceil(end_tick / ticks_per_quarter)``."""
    return -(-score.end_tick // score.ticks_per_quarter)


def bars(score: Score) -> np.ndarray:
    """The bars covering ``[0, end_tick)`` as an int array of shape ``(num_bars, 2)``.

    Each row is ``(start_tick, length_ticks)``. A time-signature change starts a new bar
    (cutting the previous one short); the last bar keeps its full length even when the piece
    ends inside it. Fractional bar lines (e.g. 7/8 at one step per quarter) are rounded down.
    """
    tpq = score.ticks_per_quarter
    sigs = sorted(score.time_signatures, key=lambda s: s.tick) or [TimeSignature(0, 4, 4)]
    if sigs[0].tick > 0:
        sigs.insert(0, TimeSignature(0, 4, 4))
    end = max(score.end_tick, 1)
    lines: list[int] = []
    last_end = end
    for index, sig in enumerate(sigs):
        if sig.tick >= end:
            break
        following = sigs[index + 1].tick if index + 1 < len(sigs) else None
        limit = end if following is None else min(following, end)
        length = _bar_length(sig, tpq)
        position = Fraction(sig.tick)
        while position < limit:
            lines.append(floor(position))
            position += length
        last_end = floor(position) if following is None else min(floor(position), following)
    lines.append(last_end)
    edges = np.unique(np.asarray(lines, dtype=np.int64))
    return np.stack([edges[:-1], np.diff(edges)], axis=1)  # (num_bars, 2)


def _bar_length(sig: TimeSignature, ticks_per_quarter: int) -> Fraction:
    """Bar length in ticks; a nonsensical signature (0 beats) counts as 4/4."""
    if sig.numerator <= 0 or sig.denominator <= 0:
        return Fraction(4 * ticks_per_quarter)
    return max(bar_ticks(sig, ticks_per_quarter), Fraction(1))


def onset_groups(score: Score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Notes grouped by onset tick: ``(ticks, counts, first_pitch)``, each of shape ``(G,)``.

    ``ticks`` are the distinct onset ticks in order, ``counts`` how many notes start at each,
    ``first_pitch`` the lowest pitch starting there (the only one when ``counts == 1``).
    """
    starts = score.notes["start"]
    ticks, first, counts = np.unique(starts, return_index=True, return_counts=True)
    return ticks, counts, score.notes["pitch"][first].astype(np.int64)


def longest_true_run(mask: np.ndarray) -> int:
    """Length of the longest run of consecutive True values in a 1-D bool array."""
    if not mask.any():
        return 0
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
