"""Harmony metric: the share of dissonant intervals among the pitches sounding together."""

from __future__ import annotations

import numpy as np

from cadenza.controls import detect_key
from cadenza.metrics.timeline import require_notes, sounding_roll
from cadenza.score import Score

# Interval classes (semitone distance mod 12, folded to 0..6) counted as dissonant:
# 1 = minor second / major seventh, 2 = major second / minor seventh, 6 = tritone.
# Unisons/octaves (0), thirds and sixths (3, 4) and fourths/fifths (5) are consonant.
DISSONANT_INTERVAL_CLASSES = (1, 2, 6)


def pitch_class_counts(score: Score) -> np.ndarray:
    """Sounding pitches per pitch class at each step: int array of shape ``(end_tick, 12)``."""
    roll = sounding_roll(score)  # (T, 128)
    padded = np.zeros((roll.shape[0], 132), dtype=np.int64)  # 132 = 11 octaves of 12
    padded[:, :128] = roll
    return padded.reshape(roll.shape[0], 11, 12).sum(axis=1)  # (T, 12)


def dissonance_rate(score: Score) -> float:
    """Share of dissonant pairs among all pairs of pitches sounding at the same step (0 to 1).

    At every step, every unordered pair of distinct sounding pitches is one pair; its
    interval class is ``min(d, 12 - d)`` with ``d = |p1 - p2| mod 12``, dissonant when in
    :data:`DISSONANT_INTERVAL_CLASSES` (seconds, sevenths, tritone). Pairs are pooled over all
    steps, so a held dissonance weighs by its length: ``sum of dissonant pairs / sum of
    pairs``. 1.0 for C against C#, 0.0 for a C-E-G triad; 0.0 when no two pitches ever sound
    together (no pairs, hence no dissonant pair).
    """
    require_notes(score, "dissonance_rate")
    counts = pitch_class_counts(score)  # (T, 12)
    sizes = counts.sum(axis=1)
    pairs = int((sizes * (sizes - 1) // 2).sum())
    if pairs == 0:
        return 0.0
    dissonant = 0.0
    for interval in DISSONANT_INTERVAL_CLASSES:
        # Pairing class a with a + k counts each unordered pair once for k < 6, twice for 6.
        products = int((counts * np.roll(counts, -interval, axis=1)).sum())
        dissonant += products / 2 if interval == 6 else products
    return float(dissonant / pairs)


def tonal_closure(score: Score) -> float:
    """How firmly the piece ends at home (share): of the notes sounding at the last onset,
    the share whose pitch class is in the tonic triad of the key the whole piece correlates
    best with (Krumhansl-Kessler), and 0 unless the lowest of them is the tonic."""
    require_notes(score, "tonal_closure")
    notes = score.notes
    key = detect_key(notes["pitch"], notes["duration"])
    last = int(notes["start"].max())
    ends = notes["start"] + notes["duration"]
    final = notes[(notes["start"] <= last) & (ends > last)]
    third = 3 if key.mode == "minor" else 4
    triad = {key.tonic, (key.tonic + third) % 12, (key.tonic + 7) % 12}
    pitches = final["pitch"].astype(int)
    if int(pitches.min()) % 12 != key.tonic:
        return 0.0
    return float(np.mean([p % 12 in triad for p in pitches]))
