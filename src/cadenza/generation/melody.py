"""Harmonising a melody: its notes are clamped while the grid model samples everything else.

:func:`melody_of` takes the melody of a quantised score: all its notes (a monophonic file)
or its top voice (``voice="top"``: at each onset the highest pitch, each note cut where the
next one starts). :class:`MelodyPlan` is the plan (:mod:`cadenza.generation.plan`) that
makes the generator play exactly those notes: at every step of a melody note its pitch is
forced on, struck at the note's first step; at the steps just before and just after a note
its pitch is forced off (unless the melody itself sounds there), so that no generated note
merges with it (a piano roll cannot mark a re-strike). With
``below_only`` no note above the melody's sounding pitch may play.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cadenza.errors import DataError
from cadenza.generation.plan import Plan, StepPrior, for_batch
from cadenza.score import Score, sort_notes

__all__ = ["MelodyPlan", "melody_of"]


def melody_of(score: Score, voice: str = "all") -> np.ndarray:
    """The melody notes of ``score`` (a structured note array, sorted); ``voice`` is ``"all"``
    (the file is the melody) or ``"top"`` (the highest sounding voice)."""
    if voice not in ("all", "top"):
        raise DataError(f"voice must be 'all' or 'top', got {voice!r}")
    notes = sort_notes(score.notes.copy())
    if voice == "all" or len(notes) == 0:
        return notes
    starts = np.unique(notes["start"])
    top = []
    for tick in starts:  # the highest note starting at each onset
        at = notes[notes["start"] == tick]
        top.append(at[np.argmax(at["pitch"])])
    melody = np.array(top, dtype=notes.dtype)
    ends = melody["start"] + melody["duration"]
    ends[:-1] = np.minimum(ends[:-1], melody["start"][1:])  # monophonic: cut at the next
    melody["duration"] = ends - melody["start"]
    return melody[melody["duration"] > 0]


@dataclass
class MelodyPlan(Plan):
    """Clamp ``melody`` (notes on the model's grid, ticks = steps) while generating."""

    melody: np.ndarray
    low: int  # MIDI pitch of note 0 of the representation
    num_notes: int
    below_only: bool = False

    def __post_init__(self) -> None:
        pitches = self.melody["pitch"].astype(np.int64)
        outside = pitches[(pitches < self.low) | (pitches >= self.low + self.num_notes)]
        if len(outside):
            raise DataError(
                f"the melody's pitch {int(outside[0])} is outside the model's keys "
                f"{self.low}..{self.low + self.num_notes - 1}")
        length = int((self.melody["start"] + self.melody["duration"]).max(initial=0)) + 1
        nan = np.float32(np.nan)
        self.prior = np.full((length, self.num_notes, 2), nan, dtype=np.float32)
        self.top = np.full(length, -1, dtype=np.int64)  # sounding melody column per step
        for note in self.melody:  # releases first, so that the melody's notes override them
            column = int(note["pitch"]) - self.low
            after = int(note["start"] + note["duration"])
            if after < length:
                self.prior[after, column] = (0.0, 0.0)
            before = int(note["start"]) - 1  # a gap in front: a piano roll cannot re-strike
            if before >= 0:
                self.prior[before, column] = (0.0, 0.0)
        for note in self.melody:
            column = int(note["pitch"]) - self.low
            start, stop = int(note["start"]), int(note["start"] + note["duration"])
            self.prior[start:stop, column] = (1.0, 0.0)
            self.prior[start, column] = (1.0, 1.0)
            self.top[start:stop] = np.maximum(self.top[start:stop], column)
        # Below-only: the ceiling is the sounding melody note, or the last one in a rest and
        # after the melody's end (the final chord of an ending stays under it too).
        sounding = np.where(self.top >= 0, np.arange(length), -1)
        latest = np.maximum.accumulate(sounding)
        self.ceiling = np.where(latest >= 0, self.top[np.maximum(latest, 0)], -1)

    @property
    def length(self) -> int:
        """Steps the melody spans (its last note's end)."""
        return len(self.prior) - 1

    def step(self, index: int, generated: Sequence[np.ndarray]) -> StepPrior | None:
        inside = index < len(self.prior)
        ceiling = int(self.ceiling[min(index, len(self.ceiling) - 1)]) if self.below_only else -1
        if not inside and ceiling < 0:
            return None
        prior = (self.prior[index].copy() if inside
                 else np.full((self.num_notes, 2), np.nan, dtype=np.float32))
        weights = None
        if ceiling >= 0:  # nothing above the melody, whatever another plan asks
            weights = np.ones(self.num_notes, dtype=np.float32)
            weights[ceiling + 1 :] = 0.0
            prior[ceiling + 1 :] = 0.0
        return StepPrior(weights=weights, prior=for_batch(prior, generated), prior_weight=0.0)
