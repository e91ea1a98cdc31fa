"""Pitch metrics: pitch-class entropy, range, pitches used, scale consistency.

Every count here is over note *onsets*: each note counts once, however long it lasts.
"""

from __future__ import annotations

import numpy as np

from cadenza.metrics.timeline import require_notes
from cadenza.score import Score

PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
SCALES = (("major", MAJOR_SCALE), ("minor", NATURAL_MINOR_SCALE))


def pitch_class_histogram(score: Score) -> np.ndarray:
    """Number of notes of each pitch class C..B: int array of shape ``(12,)``."""
    return np.bincount(score.notes["pitch"].astype(np.int64) % 12, minlength=12)


def pitch_class_entropy(score: Score) -> float:
    """Shannon entropy of the pitch-class histogram of onsets, in bits (0 to log2 12 ≈ 3.585).

    ``-sum(p * log2 p)`` over the pitch classes used, with ``p`` the share of notes (not of
    time) in each class: 0 for a piece on one pitch class, ``log2 12`` when all twelve are
    used equally often.
    """
    require_notes(score, "pitch_class_entropy")
    counts = pitch_class_histogram(score)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum() + 0.0)  # + 0.0 turns -0.0 into 0.0


def pitch_range(score: Score) -> float:
    """Highest minus lowest MIDI pitch, in semitones (0 for a piece on one pitch)."""
    require_notes(score, "pitch_range")
    pitches = score.notes["pitch"]
    return float(int(pitches.max()) - int(pitches.min()))


def pitches_used(score: Score) -> float:
    """Number of distinct MIDI pitches played (an octave apart counts as two)."""
    require_notes(score, "pitches_used")
    return float(len(np.unique(score.notes["pitch"])))


def key_fits(score: Score, metric: str = "key_fits") -> np.ndarray:
    """Share of notes inside each of the 24 keys: float array of shape ``(2, 12)``.

    Row 0 is major, row 1 natural minor; the column is the tonic's pitch class (0 = C).
    ``metric`` names the caller in the error raised for an empty score.
    """
    require_notes(score, metric)
    counts = pitch_class_histogram(score)
    fits = np.empty((len(SCALES), 12))
    for row, (_, scale) in enumerate(SCALES):
        for tonic in range(12):
            fits[row, tonic] = counts[(tonic + np.asarray(scale)) % 12].sum()
    return fits / counts.sum()


def best_key(score: Score) -> tuple[str, float]:
    """The key holding the largest share of notes, e.g. ``("C major", 1.0)``.

    Ties go to major before minor, then to the lower tonic from C.
    """
    fits = key_fits(score, "best_key")
    row, tonic = np.unravel_index(int(np.argmax(fits)), fits.shape)
    return f"{PITCH_CLASS_NAMES[tonic]} {SCALES[row][0]}", float(fits[row, tonic])


def scale_consistency(score: Score) -> float:
    """Largest share of notes inside one major or natural-minor scale (0 to 1).

    The maximum over the 24 keys of ``notes whose pitch class is in the scale / all notes``;
    1.0 for any diatonic melody. A relative major and minor share a scale, so 12 distinct
    sets are compared.
    """
    return float(key_fits(score, "scale_consistency").max())
