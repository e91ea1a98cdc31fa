"""Texture and rhythm metrics: polyphony, silence, note lengths, groove, density.

Steps are grid steps (ticks of a quantised score), beats are quarter notes and bars follow
the score's time signatures; see :mod:`cadenza.metrics.timeline`.
"""

from __future__ import annotations

import numpy as np

from cadenza.metrics.timeline import (
    bars,
    longest_true_run,
    num_beats,
    onset_groups,
    onset_steps,
    require_notes,
    sounding_counts,
)
from cadenza.score import Score

SIXTEENTH_QUARTERS = 0.25  # a 16th note, in quarter notes


def polyphony(score: Score) -> float:
    """Mean number of distinct pitches sounding, over the steps where at least one sounds.

    Unit: notes. 1.0 for a monophonic line, 3.0 for a held triad; silent steps are left out
    (see :func:`empty_beat_rate` for silence). 0.0 if no note lasts a step.
    """
    require_notes(score, "polyphony")
    counts = sounding_counts(score)
    sounding = counts[counts > 0]
    return float(sounding.mean()) if len(sounding) else 0.0


def polyphony_rate(score: Score) -> float:
    """Share of sounding steps (at least one pitch) at which two or more pitches sound.

    0 to 1; silent steps count in neither numerator nor denominator. 0.0 if no note lasts
    a step.
    """
    require_notes(score, "polyphony_rate")
    counts = sounding_counts(score)
    sounding = counts > 0
    return float((counts > 1).sum() / sounding.sum()) if sounding.any() else 0.0


def _sounding_beats(score: Score) -> np.ndarray:
    """Bool array of shape ``(num_beats,)``: True where any pitch sounds during the beat."""
    tpq = score.ticks_per_quarter
    beats = num_beats(score)
    sounding = np.zeros(beats * tpq, dtype=bool)
    sounding[: score.end_tick] = sounding_counts(score) > 0
    return np.asarray(sounding.reshape(beats, tpq).any(axis=1))


def empty_beat_rate(score: Score) -> float:
    """Share of beats (quarter notes from tick 0 to the last note's end) in which no note sounds.

    0 to 1; a beat where a note is held from before counts as sounding. The last beat is
    counted even when the piece ends inside it.
    """
    require_notes(score, "empty_beat_rate")
    return float(1.0 - _sounding_beats(score).mean())


def longest_silence(score: Score) -> float:
    """Longest span with no sounding note, in beats (quarter notes), from tick 0 onwards.

    Silence before the first note counts; a piece ends when its last note does, so there is
    no trailing silence. Measured in steps, then divided by ``ticks_per_quarter``.
    """
    require_notes(score, "longest_silence")
    silent = sounding_counts(score) == 0
    return longest_true_run(silent) / score.ticks_per_quarter


def qualified_note_rate(score: Score, min_quarters: float = SIXTEENTH_QUARTERS) -> float:
    """Share of notes lasting at least ``min_quarters`` quarter notes (default a 16th).

    0 to 1. Shorter notes are fragments (a common flaw of generated piano rolls). On a grid
    of 16th notes or coarser every quantised note lasts at least a 16th, so the rate is 1.0
    by construction there; it tells something on finer grids.
    """
    require_notes(score, "qualified_note_rate")
    threshold = min_quarters * score.ticks_per_quarter
    return float((score.notes["duration"] >= threshold).mean())


def groove_consistency(score: Score) -> float:
    """One minus the mean normalised Hamming distance between consecutive bars' onset patterns.

    A bar's onset pattern marks the steps of the bar where any note starts. For each pair of
    consecutive bars the distance is the number of positions where exactly one of them has
    an onset, divided by the bar length in steps (the longer of the two if they differ; the
    shorter pattern is padded with no-onset steps). 1.0 when every bar has the same rhythm,
    and for a one-bar piece.
    """
    require_notes(score, "groove_consistency")
    bar_table = bars(score)
    if len(bar_table) < 2:
        return 1.0
    onsets = onset_steps(score)
    longest = int(bar_table[:, 1].max())
    padded = np.zeros(int(bar_table[-1].sum()) + longest, dtype=bool)
    padded[: len(onsets)] = onsets
    steps = np.arange(longest)
    patterns = padded[bar_table[:, :1] + steps]  # (num_bars, longest)
    patterns &= steps < bar_table[:, 1:]  # blank the positions past each bar's end
    differ = (patterns[1:] ^ patterns[:-1]).sum(axis=1)
    lengths = np.maximum(bar_table[1:, 1], bar_table[:-1, 1])
    return float(1.0 - (differ / lengths).mean())


def notes_per_bar(score: Score) -> float:
    """Number of notes divided by the number of bars the piece spans (notes per bar)."""
    require_notes(score, "notes_per_bar")
    return score.num_notes / len(bars(score))


def notes_per_second(score: Score) -> float:
    """Number of notes divided by the piece's length in seconds under its tempo map (notes/s)."""
    require_notes(score, "notes_per_second")
    return score.num_notes / score.seconds()


def longest_repeated_note_run(score: Score) -> float:
    """Longest run of consecutive onsets that each strike the same single pitch, in onsets.

    Onsets are grouped by tick; a group counts only if exactly one note starts there. The run
    is broken by a group of another pitch or by a chord. 0.0 when no onset is a single note.
    """
    require_notes(score, "longest_repeated_note_run")
    _, counts, pitches = onset_groups(score)
    best = run = 0
    previous = -1
    for count, pitch in zip(counts.tolist(), pitches.tolist(), strict=True):
        if count != 1:
            run, previous = 0, -1
            continue
        run = run + 1 if pitch == previous else 1
        previous = pitch
        best = max(best, run)
    return float(best)
