"""A library-neutral score: the one type that flows between MIDI files and representations.

Notes are kept as one NumPy structured array (``NOTE_DTYPE``) sorted by ``(start, pitch)``,
with times in ticks at ``ticks_per_quarter``. A *quantised* score is simply a score whose
resolution is the grid: ``ticks_per_quarter == steps_per_quarter``, so one tick is one step.
Nothing here imports a MIDI library; ``cadenza.midi`` converts from and to files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from cadenza.errors import ConfigError
from cadenza.keysort import sort_rows
from cadenza.tempomap import DEFAULT_QPM, Tempo, TempoMap, as_tempo_map

NOTE_DTYPE = np.dtype(
    [("start", np.int64), ("duration", np.int64), ("pitch", np.int16), ("velocity", np.int16)]
)
__all__ = [
    "DEFAULT_QPM",
    "NOTE_DTYPE",
    "Marker",
    "MeterFilterReport",
    "Score",
    "Tempo",
    "TempoMap",
    "TimeSignature",
    "bar_ticks",
    "filter_time_signatures",
    "make_notes",
    "notes_from_columns",
    "quantise",
    "remove_overlaps",
    "sort_notes",
    "ticks_to_seconds",
]


GENERATED_MARKER = "cadenza: generated music starts here"  # where a piece's generated part begins
MARKER_PITCH = 108  # the original's very high note marking where generation begins

@dataclass(frozen=True)
class TimeSignature:
    """A time signature starting at ``tick``."""

    tick: int
    numerator: int
    denominator: int

    @property
    def label(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True)
class Marker:
    """A text marker at ``tick`` (cadenza marks where generated music begins with one)."""

    tick: int
    text: str


def make_notes(
    start: np.ndarray | list[int],
    duration: np.ndarray | list[int],
    pitch: np.ndarray | list[int],
    velocity: np.ndarray | list[int] | int = 80,
) -> np.ndarray:
    """Build a sorted ``NOTE_DTYPE`` array from parallel sequences."""
    start_arr = np.asarray(start, dtype=np.int64)
    velocity_arr = np.broadcast_to(np.asarray(velocity, dtype=np.int16), start_arr.shape)
    order, (start_arr, pitch_arr, duration_arr) = sort_rows((start_arr, pitch, duration))
    return notes_from_columns(start_arr, duration_arr, pitch_arr, velocity_arr[order])


def sort_notes(notes: np.ndarray) -> np.ndarray:
    """Return ``notes`` ordered by start, then pitch, then duration (stable)."""
    return make_notes(notes["start"], notes["duration"], notes["pitch"], notes["velocity"])


def notes_from_columns(
    start: np.ndarray, duration: np.ndarray, pitch: np.ndarray, velocity: np.ndarray
) -> np.ndarray:
    """A ``NOTE_DTYPE`` array of the parallel columns, in their order (not sorted)."""
    notes = np.empty(len(start), dtype=NOTE_DTYPE)
    notes["start"] = start
    notes["duration"] = duration
    notes["pitch"] = pitch
    notes["velocity"] = velocity
    return notes


@dataclass
class Score:
    """One piece of music: notes (``NOTE_DTYPE``), tempo, metre and markers.

    Attributes:
        notes: structured array sorted by ``(start, pitch)``; times in ticks.
        ticks_per_quarter: resolution of every time in the score.
        tempos: tempo changes, sorted by tick (empty means 120 qpm); any sequence of
            :class:`Tempo` is accepted and stored as a :class:`TempoMap`.
        time_signatures: metre changes, sorted by tick (empty means 4/4).
        markers: text markers.
        name: a human label, usually the file stem.
        composer: composer name when known.
        meta: free text facts about the piece.
        program: the General MIDI program (0..127) the piece is written for; 0 is the
            acoustic grand piano.
    """

    notes: np.ndarray
    ticks_per_quarter: int
    tempos: Sequence[Tempo] = ()
    time_signatures: tuple[TimeSignature, ...] = ()
    markers: tuple[Marker, ...] = ()
    name: str = ""
    composer: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    program: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.program <= 127:
            raise ConfigError(f"program must be a General MIDI program in 0..127, got "
                              f"{self.program}")
        if self.notes.dtype != NOTE_DTYPE:
            raise ConfigError(f"Score.notes must have dtype NOTE_DTYPE, got {self.notes.dtype}")
        if self.ticks_per_quarter <= 0:
            raise ConfigError(f"ticks_per_quarter must be positive, got {self.ticks_per_quarter}")
        self.tempos = as_tempo_map(self.tempos)

    # -- derived facts -------------------------------------------------------------------
    @property
    def end_tick(self) -> int:
        """Tick at which the last note ends (0 for an empty score)."""
        if len(self.notes) == 0:
            return 0
        return int((self.notes["start"] + self.notes["duration"]).max())

    @property
    def num_notes(self) -> int:
        return len(self.notes)

    def seconds(self) -> float:
        """Duration of the score in seconds, following its tempo map."""
        return ticks_to_seconds(self.end_tick, self.ticks_per_quarter, self.tempos)

    def copy_with(self, **changes: object) -> Score:
        """A shallow copy with some fields replaced (notes are never shared mutably)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def transpose(self, semitones: int) -> Score:
        """The score shifted by ``semitones`` (pitches outside 0..127 are dropped)."""
        notes = self.notes.copy()
        notes["pitch"] = notes["pitch"] + semitones
        notes = notes[(notes["pitch"] >= 0) & (notes["pitch"] <= 127)]
        return self.copy_with(notes=notes)


def ticks_to_seconds(tick: int, ticks_per_quarter: int, tempos: Sequence[Tempo]) -> float:
    """Convert a tick position to seconds using a tempo map (120 qpm before the first tempo)."""
    return float(as_tempo_map(tempos).seconds(tick, ticks_per_quarter))


# -- quantisation ----------------------------------------------------------------------------
def _rescale(ticks: np.ndarray, src_tpq: int, dst_tpq: int) -> np.ndarray:
    """Round tick positions from one resolution to another (half-way rounds up)."""
    return np.floor(ticks.astype(np.float64) * dst_tpq / src_tpq + 0.5).astype(np.int64)


def remove_overlaps(notes: np.ndarray) -> np.ndarray:
    """Make notes of the same pitch never overlap and drop exact duplicates.

    A note still sounding when the same pitch is struck again is cut at the new onset; of two
    notes with the same start and pitch the longer is kept (of equal ones, the later row).
    The result is sorted; the input need not be.
    """
    if len(notes) == 0:
        return notes
    order, (pitch, start, duration) = sort_rows(
        (notes["pitch"], notes["start"], notes["duration"])
    )
    # Among notes with equal (pitch, start) keep the last one (the longest, by the sort).
    keep = np.ones(len(order), dtype=bool)
    keep[:-1] = (pitch[1:] != pitch[:-1]) | (start[1:] != start[:-1])
    order, pitch, start, duration = order[keep], pitch[keep], start[keep], duration[keep]
    # Cut each note at the next onset of the same pitch.
    cut = (pitch[1:] == pitch[:-1]) & (start[:-1] + duration[:-1] > start[1:])
    duration[:-1][cut] = start[1:][cut] - start[:-1][cut]
    final, (start, pitch, duration) = sort_rows((start, pitch, duration))
    return notes_from_columns(start, duration, pitch, notes["velocity"][order[final]])


def quantise(score: Score, steps_per_quarter: int = 4) -> Score:
    """Snap every time in ``score`` to a grid of ``steps_per_quarter`` steps per quarter note.

    Onsets and ends are rounded to the nearest step; a note shorter than one step after
    rounding lasts one step; same-pitch overlaps are resolved with :func:`remove_overlaps`.
    The result has ``ticks_per_quarter == steps_per_quarter``.
    """
    if steps_per_quarter <= 0:
        raise ConfigError(f"steps_per_quarter must be positive, got {steps_per_quarter}")
    src = score.ticks_per_quarter
    notes = score.notes.copy()
    start = _rescale(notes["start"], src, steps_per_quarter)
    end = _rescale(notes["start"] + notes["duration"], src, steps_per_quarter)
    notes["start"] = start
    notes["duration"] = np.maximum(end - start, 1)
    tempos = as_tempo_map(score.tempos).rescaled(src, steps_per_quarter)
    sig_ticks = _rescale_event_ticks(score.time_signatures, src, steps_per_quarter)
    sigs = _dedupe_by_tick(
        [TimeSignature(tick, t.numerator, t.denominator)
         for tick, t in zip(sig_ticks, score.time_signatures, strict=True)]
    )
    marker_ticks = _rescale_event_ticks(score.markers, src, steps_per_quarter)
    markers = tuple(
        Marker(tick, m.text) for tick, m in zip(marker_ticks, score.markers, strict=True)
    )
    return score.copy_with(
        notes=remove_overlaps(notes),
        ticks_per_quarter=steps_per_quarter,
        tempos=tempos,
        time_signatures=tuple(sigs),
        markers=markers,
    )


def _rescale_event_ticks(
    events: tuple[TimeSignature, ...] | tuple[Marker, ...],
    src_tpq: int,
    dst_tpq: int,
) -> list[int]:
    """The ticks of ``events`` rounded to a new resolution, in one vectorised pass.

    Real files can hold hundreds of thousands of tempo changes, so this never loops over
    NumPy calls per event.
    """
    ticks = np.fromiter((event.tick for event in events), dtype=np.int64, count=len(events))
    return _rescale(ticks, src_tpq, dst_tpq).tolist()  # Python ints


def _dedupe_by_tick(items: list[Any]) -> list[Any]:
    """Keep the last event of each tick, in tick order."""
    last: dict[int, object] = {}
    for item in items:
        last[item.tick] = item
    return [last[t] for t in sorted(last)]


# -- time-signature filtering ----------------------------------------------------------------
@dataclass(frozen=True)
class MeterFilterReport:
    """What :func:`filter_time_signatures` kept and dropped, in ticks."""

    kept_ticks: int
    dropped_ticks: int
    dropped_signatures: tuple[str, ...]
    dropped_notes: int


def bar_ticks(signature: TimeSignature, ticks_per_quarter: int) -> Fraction:
    """Length of one bar of ``signature`` in ticks (may be fractional for odd resolutions)."""
    return Fraction(signature.numerator * 4 * ticks_per_quarter, signature.denominator)


ORIGINAL_METERS = "original"
"""The biaxial original's rule as a metre label: numerator 2 or 4, and reading stops at the
first other signature (the part read so far is kept)."""
SECTION_CUT = "cadenza: section cut"
"""Marker text where :func:`filter_time_signatures` removed music between two kept sections:
the music on either side is not continuous, and a model must not learn it as one sequence."""


def _meter_kept(signature: TimeSignature, allowed: tuple[str, ...]) -> bool:
    if allowed == (ORIGINAL_METERS,):
        return signature.numerator in (2, 4)
    return signature.label in allowed


def filter_time_signatures(
    score: Score, allowed: tuple[str, ...] | None = ("4/4",)
) -> tuple[Score, MeterFilterReport]:
    """Keep only the sections of ``score`` whose time signature is in ``allowed``.

    Sections are the spans between time-signature changes (a score with no signature is 4/4).
    Kept sections are put end to end, so bar lines stay aligned; notes are clipped to their
    section. Where a removed section lay between two kept ones, a :data:`SECTION_CUT` marker
    says so: the corpus splits the piece there (see ``Corpus.arrays``), so no model learns
    the two sides as one continuous sequence. ``allowed=None`` keeps everything;
    ``(ORIGINAL_METERS,)`` is the original's rule: sections with numerator 2 or 4 from the
    start, up to the first other signature.
    """
    end = score.end_tick
    sigs = list(score.time_signatures) or [TimeSignature(0, 4, 4)]
    if sigs[0].tick > 0:
        sigs.insert(0, TimeSignature(0, 4, 4))
    if allowed is None or all(_meter_kept(s, allowed) for s in sigs):
        return score, MeterFilterReport(end, 0, (), 0)
    keep = [_meter_kept(s, allowed) for s in sigs]
    if allowed == (ORIGINAL_METERS,):  # stop at the first other signature
        first_other = keep.index(False)
        keep = [i < first_other for i in range(len(keep))]
    bounds = [s.tick for s in sigs] + [max(end, sigs[-1].tick)]
    kept_notes: list[np.ndarray] = []
    kept_sigs: list[TimeSignature] = []
    kept_tempos: list[TempoMap] = []
    tempo_map = as_tempo_map(score.tempos)
    dropped_labels: list[str] = []
    offset = 0  # ticks removed so far
    kept_ticks = dropped_ticks = 0
    notes = score.notes
    used = np.zeros(len(notes), dtype=bool)
    cuts: list[Marker] = []
    gap = False  # a section was removed since the last kept one
    for sig, kept, lo, hi in zip(sigs, keep, bounds[:-1], bounds[1:], strict=True):
        if hi <= lo:
            continue
        if not kept:
            dropped_ticks += hi - lo
            if sig.label not in dropped_labels:
                dropped_labels.append(sig.label)
            offset += hi - lo
            gap = True
            continue
        if gap and kept_ticks:
            cuts.append(Marker(lo - offset, SECTION_CUT))
        gap = False
        kept_ticks += hi - lo
        inside = (notes["start"] >= lo) & (notes["start"] < hi)
        used |= inside
        part = notes[inside].copy()
        part["duration"] = np.minimum(part["start"] + part["duration"], hi) - part["start"]
        part["start"] -= offset
        kept_notes.append(part)
        kept_sigs.append(TimeSignature(lo - offset, sig.numerator, sig.denominator))
        # Tempo in force at the start of the section, then changes inside it.
        kept_tempos.append(tempo_map.section(lo, hi, offset))
    merged = sort_notes(np.concatenate(kept_notes)) if kept_notes else notes[:0]
    report = MeterFilterReport(kept_ticks, dropped_ticks, tuple(dropped_labels), int((~used).sum()))
    filtered = score.copy_with(
        notes=merged,
        time_signatures=tuple(_dedupe_by_tick(kept_sigs)),
        tempos=TempoMap.concatenate(kept_tempos),
        markers=tuple(cuts),
    )
    return filtered, report


def section_cuts(score: Score) -> list[int]:
    """Ticks of the :data:`SECTION_CUT` markers of ``score``, in order."""
    return sorted(m.tick for m in score.markers if m.text == SECTION_CUT)
