"""Voice leading between the parts of a piece: parallel fifths and octaves, crossings, range.

A piece here is a list of parts, the highest first, each a structured note array
(``NOTE_DTYPE``, ticks) playing one note at a time. The parts are read at every onset of any
of them (a *sonority*); at each, a part sounds the pitch of its note then (or rests).

- **parallel fifths / octaves**: two parts that sound at two consecutive sonorities, both
  move and in the same direction, and stand a perfect fifth (7 semitones, or a compound
  fifth: 19, 31, ...) apart at both, or an octave or unison (0, 12, 24, ...) at both. A part
  that strikes the same pitch again does not move. Each pair of parts counts once per pair of
  sonorities.
- **crossings**: a pair of parts at one sonority where the lower part sounds above the
  higher one, counted per sonority and pair (a crossing held for three sonorities counts 3).
- **range violations**: notes outside their part's range, when ranges are given.

Every count is also given per bar (the piece's length in bars, ``ticks_per_bar`` each, from
tick 0 to the end of its last note). The rules are the usual ones of four-part writing
(e.g. Aldwell & Schachter, *Harmony and Voice Leading*); no exception (a fifth to a
diminished fifth, octaves by contrary motion) is made here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cadenza.errors import DataError

__all__ = ["FIFTH", "OCTAVE", "VoiceLeading", "parallel_interval", "parallel_pairs",
           "sonorities", "voice_leading"]

FIFTH, OCTAVE = 7, 0  # interval classes (semitones modulo 12)


@dataclass(frozen=True)
class VoiceLeading:
    """Counts of one piece (see the module's docstring) and its length in bars."""

    bars: float
    parallel_fifths: int
    parallel_octaves: int
    crossings: int
    range_violations: int
    notes: int

    def per_bar(self) -> dict[str, float]:
        """Each count divided by the piece's bars."""
        return {"parallel_fifths": self.parallel_fifths / self.bars,
                "parallel_octaves": self.parallel_octaves / self.bars,
                "crossings": self.crossings / self.bars,
                "range_violations": self.range_violations / self.bars}


def sonorities(parts: Sequence[np.ndarray]) -> np.ndarray:
    """(S, P) int: the pitch each part sounds at each onset of any part (-1: it rests)."""
    starts = np.unique(np.concatenate([p["start"] for p in parts])) if parts else np.zeros(0)
    table = np.full((len(starts), len(parts)), -1, dtype=np.int64)
    for column, notes in enumerate(parts):
        if len(notes) == 0:
            continue
        order = np.argsort(notes["start"], kind="stable")
        begin, end = notes["start"][order], (notes["start"] + notes["duration"])[order]
        last = np.searchsorted(begin, starts, side="right") - 1  # the note begun last
        sounding = (last >= 0) & (end[np.maximum(last, 0)] > starts)
        table[sounding, column] = notes["pitch"][order][last[sounding]]
    return table


def parallel_interval(a: tuple[int, int], b: tuple[int, int]) -> int | None:
    """The perfect interval class (``FIFTH`` 7 or ``OCTAVE`` 0) in which two parts moving
    ``a`` = (from, to) and ``b`` move in parallel, or ``None``: both must move, the same
    way, and stand that interval apart (modulo the octave) before and after."""
    (a0, a1), (b0, b1) = a, b
    if a0 == a1 or b0 == b1 or (a1 > a0) != (b1 > b0):
        return None
    before, after = abs(a0 - b0) % 12, abs(a1 - b1) % 12
    return before if before == after and before in (FIFTH, OCTAVE) else None


def parallel_pairs(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """The interval class (``FIFTH`` or ``OCTAVE``) of every pair of parts moving in parallel
    from sonority ``a`` to sonority ``b`` (a pitch per part each, -1 where it rests; a part
    resting at either sounds no parallel)."""
    found = []
    for p, q in itertools.combinations(range(len(a)), 2):
        if min(a[p], a[q], b[p], b[q]) >= 0:
            interval = parallel_interval((int(a[p]), int(b[p])), (int(a[q]), int(b[q])))
            if interval is not None:
                found.append(interval)
    return found


def _parallels(table: np.ndarray, interval_class: int) -> int:
    """Pairs of parts moving in parallel ``interval_class`` between consecutive sonorities."""
    return sum(parallel_pairs(a, b).count(interval_class) for a, b in itertools.pairwise(table))


def voice_leading(parts: Sequence[np.ndarray], ticks_per_bar: int,
                  ranges: Sequence[tuple[int, int]] | None = None) -> VoiceLeading:
    """The voice-leading counts of ``parts`` (the highest first).

    Args:
        parts: one note array per part (``NOTE_DTYPE``), one note at a time each.
        ticks_per_bar: the bar's length in ticks (16 for 4/4 at 4 ticks a quarter).
        ranges: inclusive (low, high) MIDI range of each part, for range violations.

    Raises:
        DataError: no part has a note, fewer than two parts, or ranges for other parts.
    """
    if len(parts) < 2:
        raise DataError(f"voice leading needs two parts or more, got {len(parts)}")
    if ranges is not None and len(ranges) != len(parts):
        raise DataError(f"{len(ranges)} ranges for {len(parts)} parts")
    notes = sum(len(p) for p in parts)
    if notes == 0:
        raise DataError("no notes: voice leading is not defined")
    end = max(int((p["start"] + p["duration"]).max()) for p in parts if len(p))
    table = sonorities(parts)
    crossings = sum(int(np.sum((table[:, p] >= 0) & (table[:, q] >= 0)
                               & (table[:, p] < table[:, q])))
                    for p, q in itertools.combinations(range(len(parts)), 2))
    violations = 0
    if ranges is not None:
        violations = sum(int(np.sum((p["pitch"] < low) | (p["pitch"] > high)))
                         for p, (low, high) in zip(parts, ranges, strict=True))
    return VoiceLeading(bars=max(end / ticks_per_bar, 1e-9),
                        parallel_fifths=_parallels(table, FIFTH),
                        parallel_octaves=_parallels(table, OCTAVE),
                        crossings=crossings, range_violations=violations, notes=notes)
