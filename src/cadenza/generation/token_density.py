"""``--density LOW..HIGH`` for the events and note-token families: steer the time steps.

A token model decides how far time moves after each element (the note tokens' shift, the
events' delta). :class:`OnsetRate` counts the note onsets of the last :data:`WINDOW_BEATS`
beats of each piece of a batch; while a piece is below ``LOW`` onsets per beat, long time
steps (more than half a beat) and rests are refused, so notes come sooner; above ``HIGH``,
steps shorter than half a beat (chords included) are refused, so time moves on. In between
the model is left alone. It is the two-sided anti-silence rule of the grid families,
applied where a token model has its say about time.
"""

from __future__ import annotations

from collections import deque

import numpy as np

WINDOW_BEATS = 2.0
SPARSE, FREE, DENSE = -1, 0, 1


class OnsetRate:
    """Note onsets per beat over a sliding window, per row of a batch."""

    def __init__(self, band: tuple[float, float], count: int, steps_per_beat: int) -> None:
        self.low, self.high = band
        self.steps_per_beat = max(int(steps_per_beat), 1)
        self.window = WINDOW_BEATS * self.steps_per_beat
        self.time = np.zeros(count, dtype=np.float64)
        self.onsets: list[deque[tuple[float, int]]] = [deque() for _ in range(count)]

    def add(self, row: int, notes: int, advance: float) -> None:
        """Row ``row`` wrote ``notes`` onsets now and then moved ``advance`` steps on."""
        if notes:
            self.onsets[row].append((float(self.time[row]), int(notes)))
        self.time[row] += max(float(advance), 0.0)
        horizon = self.time[row] - self.window
        while self.onsets[row] and self.onsets[row][0][0] < horizon:
            self.onsets[row].popleft()

    def rate(self, row: int) -> float:
        """Onsets per beat in the window (or since the start, when shorter)."""
        span = min(max(float(self.time[row]), 1.0), self.window) / self.steps_per_beat
        return sum(notes for _, notes in self.onsets[row]) / span

    def states(self) -> np.ndarray:
        """(B,) int: :data:`SPARSE`, :data:`FREE` or :data:`DENSE` for each row."""
        rates = np.array([self.rate(row) for row in range(len(self.time))])
        return np.where(rates < self.low, SPARSE, np.where(rates > self.high, DENSE, FREE))

    def allowed_steps(self, values: np.ndarray, state: int) -> np.ndarray:
        """(len(values),) bool: which time steps (in steps) a row in ``state`` may take; all
        of them if the rule would leave none."""
        half = self.steps_per_beat / 2
        if state == SPARSE:
            allowed = values <= half
        elif state == DENSE:
            allowed = values >= half
        else:
            return np.ones(len(values), dtype=bool)
        return allowed if allowed.any() else np.ones(len(values), dtype=bool)
