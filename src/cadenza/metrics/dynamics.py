"""Dynamics metrics: how loud the notes are and how that changes (MIDI velocities 1..127)."""

from __future__ import annotations

import numpy as np

from cadenza.metrics.timeline import bars, require_notes
from cadenza.score import Score


def velocity_mean(score: Score) -> float:
    """Mean MIDI velocity of the notes (velocity)."""
    require_notes(score, "velocity_mean")
    return float(np.mean(score.notes["velocity"]))


def velocity_spread(score: Score) -> float:
    """Standard deviation of the notes' velocities (velocity): 0 for one fixed loudness."""
    require_notes(score, "velocity_spread")
    return float(np.std(score.notes["velocity"].astype(np.float64)))


def velocity_change_per_bar(score: Score) -> float:
    """Mean absolute change of the mean velocity from one bar to the next, over bars that
    hold notes (velocity): how much the music swells and fades; 0 with one bar."""
    require_notes(score, "velocity_change_per_bar")
    layout = bars(score)
    starts = score.notes["start"]
    index = np.searchsorted(layout[:, 0], starts, side="right") - 1  # bar of each note
    velocities = score.notes["velocity"].astype(np.float64)
    counts = np.bincount(index, minlength=len(layout))
    sums = np.bincount(index, weights=velocities, minlength=len(layout))
    means = sums[counts > 0] / counts[counts > 0]
    return float(np.mean(np.abs(np.diff(means)))) if len(means) > 1 else 0.0
