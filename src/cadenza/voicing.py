"""Sharing a composed piece's notes among an ensemble's parts by voice leading.

The notes are taken onset by onset (every group of notes that start on one tick). For each
group, every way of giving its notes to the parts (each part at most one note, each note at
most one part) is scored, and the cheapest is kept (an exact search: an ensemble has a few
parts and a group a few notes). A way costs

- the **movement** of each part given a note, in semitones from that part's previous note
  (a part with no note yet: half the distance from the middle of its range);
- ``CROSSING`` for every pair of parts sounding at the onset out of order (a lower part
  above a higher one), counting the notes parts still hold from before;
- ``PARALLEL`` for every pair of parts the way moves in parallel perfect fifths or octaves
  (from each one's previous note, as
  :func:`cadenza.metrics.voiceleading.parallel_interval` tells them);
- ``CUT`` for a part that still sounds a note: it is cut where the new one starts, since a
  part plays one note at a time;
- ``DROP`` for every note no part takes (it is dropped, and counted);
- ``SHIFT`` more for a note outside a part's range, which that part can only take moved by
  whole octaves into its range (the nearest octave; counted as shifted).

No note is ever written outside its part's range, but for a fixed line (a harmonised
melody: it is kept note for note, and its notes outside the first part's range counted).
Ties are broken toward rank order (the highest note to the highest part). The piano is not
searched: its right hand takes every note from middle C up, its left hand the rest.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cadenza.ensembles import Ensemble, Part
from cadenza.metrics.voiceleading import parallel_interval
from cadenza.score import NOTE_DTYPE, Score, sort_notes

__all__ = ["CROSSING", "CUT", "DROP", "PARALLEL", "SHIFT", "Arrangement", "PartLine", "arrange",
           "best_assignment", "in_range"]

CROSSING = 12.0  # a pair of parts out of order
PARALLEL = 6.0  # two parts moving in parallel fifths or octaves
CUT = 2.0  # a held note cut short for the part's next one
DROP = 24.0  # a note no part takes
SHIFT = 8.0  # a note moved by octaves into its part's range
MAX_GROUP = 6  # notes of one onset searched; more are thinned to this many first


@dataclass
class Arrangement:
    """A piece's notes given to an ensemble's parts.

    Attributes:
        ensemble: the ensemble.
        notes: one structured array (``NOTE_DTYPE``) per part, in the ensemble's order.
        dropped: notes no part took.
        shifted: notes moved by octaves into the range of the part that took them.
        cut: held notes cut short where the part's next note starts.
        fixed_outside: notes of a fixed line (a harmonised melody) outside the first part's
            range, kept as written.
    """

    ensemble: Ensemble
    notes: list[np.ndarray]
    dropped: int = 0
    shifted: int = 0
    cut: int = 0
    fixed_outside: int = 0
    stats: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.stats = {"dropped": self.dropped, "octave_shifted": self.shifted,
                      "cut_short": self.cut, "melody_outside_range": self.fixed_outside}

    def part_scores(self, score: Score) -> list[Score]:
        """One score per part (the piece's tempo, metre and markers; the part's notes,
        name and program)."""
        return [score.copy_with(notes=sort_notes(notes), name=part.name, program=part.program)
                for part, notes in zip(self.ensemble.parts, self.notes, strict=True)]

    def merged(self, score: Score) -> Score:
        """``score`` with the arranged notes (dropped ones gone, shifted ones moved)."""
        return score.copy_with(notes=sort_notes(np.concatenate(self.notes)))


@dataclass
class PartLine:
    """What a part is doing: its notes so far, and the one it sounds last."""

    part: Part
    notes: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def last_pitch(self) -> int | None:
        return self.notes[-1][2] if self.notes else None

    def sounding(self, tick: int) -> int | None:
        """The pitch it holds at ``tick`` from an earlier onset, if any."""
        if self.notes and self.notes[-1][0] < tick < self.notes[-1][0] + self.notes[-1][1]:
            return self.notes[-1][2]
        return None

    def movement(self, pitch: int) -> float:
        last = self.last_pitch
        return abs(pitch - last) if last is not None else abs(pitch - self.part.centre) / 2


def in_range(part: Part, pitch: int) -> tuple[int, bool] | None:
    """``pitch`` as ``part`` can play it: itself, else moved by the fewest octaves into its
    range (``(pitch, shifted)``); ``None`` when no octave of it lies in the range."""
    if part.holds(pitch):
        return pitch, False
    octaves = sorted(range(-10, 11), key=abs)
    for k in octaves:
        if part.holds(pitch + 12 * k):
            return pitch + 12 * k, True
    return None


def arrange(score: Score, ensemble: Ensemble, fixed: np.ndarray | None = None) -> Arrangement:
    """Share ``score``'s notes among ``ensemble``'s parts (see the module's docstring).

    ``fixed`` (a bool per note of ``score.notes``, e.g. a harmonised melody) marks notes that
    go to the first part as they are, whatever it costs; the first part then plays them
    alone, and the rest are shared among the other parts.
    """
    notes = score.notes
    if not ensemble.monophonic:
        right = notes["pitch"] >= ensemble.parts[1].high + 1
        return Arrangement(ensemble, [notes[right].copy(), notes[~right].copy()])
    voices = [PartLine(part) for part in ensemble.parts]
    free = voices if fixed is None else voices[1:]  # a fixed line has the first part alone
    fixed = np.zeros(len(notes), bool) if fixed is None else np.asarray(fixed, bool)
    counts = {"dropped": 0, "shifted": 0, "cut": 0, "fixed_outside": 0}
    order = np.lexsort((-notes["pitch"].astype(np.int64), notes["start"]))
    for _, group in itertools.groupby(order.tolist(), key=lambda i: int(notes["start"][i])):
        rows = list(group)
        tick = int(notes["start"][rows[0]])
        for i in (i for i in rows if fixed[i]):
            _place(voices[0], tick, _row(notes[i]), counts)
            counts["fixed_outside"] += not voices[0].part.holds(int(notes["pitch"][i]))
        _assign(free, tick, [_row(notes[i]) for i in rows if not fixed[i]], counts)
    arrays = [np.array(v.notes, dtype=NOTE_DTYPE) if v.notes else np.zeros(0, NOTE_DTYPE)
              for v in voices]
    return Arrangement(ensemble, arrays, **counts)


def _row(note: np.void) -> tuple[int, int, int, int]:
    return int(note["start"]), int(note["duration"]), int(note["pitch"]), int(note["velocity"])


def _place(voice: PartLine, tick: int, note: tuple[int, int, int, int],
           counts: dict[str, int]) -> None:
    """Give ``note`` to ``voice``, cutting the note it holds where this one starts."""
    if voice.sounding(tick) is not None:
        start, _, pitch, velocity = voice.notes[-1]
        voice.notes[-1] = (start, tick - start, pitch, velocity)
        counts["cut"] += 1
    voice.notes.append(note)


def _assign(voices: Sequence[PartLine], tick: int, group: list[tuple[int, int, int, int]],
            counts: dict[str, int]) -> None:
    """Give the notes of one onset (highest first) to ``voices`` the cheapest way."""
    if len(group) > MAX_GROUP:  # keep the outer notes and an even spread between them
        keep = np.linspace(0, len(group) - 1, MAX_GROUP).round().astype(int)
        counts["dropped"] += len(group) - MAX_GROUP
        group = [group[i] for i in sorted(set(keep.tolist()))]
    choice = best_assignment(voices, tick, [pitch for _, _, pitch, _ in group])
    taken = set()
    for voice, (index, pitch) in zip(voices, choice, strict=True):
        if index is None:
            continue
        taken.add(index)
        start, duration, original, velocity = group[index]
        counts["shifted"] += pitch != original
        _place(voice, tick, (start, duration, pitch, velocity), counts)
    counts["dropped"] += len(group) - len(taken)


Choice = tuple[int | None, int]  # (index of the note taken or None, the pitch it plays)


def best_assignment(voices: Sequence[PartLine], tick: int, pitches: list[int]) -> list[Choice]:
    """The cheapest way to give ``pitches`` (one onset, highest first) to ``voices``: for
    each voice, the index of its pitch (``None``: it takes none) and the pitch it plays."""
    options = []  # per voice: (index or None, pitch played, cost of taking it)
    for voice in voices:
        held = voice.sounding(tick)
        mine: list[tuple[int | None, int, float]] = []
        for index, pitch in enumerate(pitches):
            playable = in_range(voice.part, pitch)
            if playable is not None:
                played, shifted = playable
                cost = voice.movement(played) + SHIFT * shifted + CUT * (held is not None)
                mine.append((index, played, cost))
        # taking nothing last, so that of equal ways the first found is in rank order
        mine.append((None, held if held is not None else -1, 0.0))
        options.append(mine)
    best: list[Choice] = []
    best_cost = float("inf")
    for way in itertools.product(*options):
        cost = _way_cost(voices, way, len(pitches))
        if cost < best_cost - 1e-9:
            best_cost, best = cost, [(index, pitch) for index, pitch, _ in way]
    return best


def _way_cost(voices: Sequence[PartLine], way: tuple[tuple[int | None, int, float], ...],
              notes: int) -> float:
    """The cost of one way (per voice: the note taken or ``None``, the pitch it sounds and
    the cost of taking it) of giving ``notes`` notes to ``voices``; infinite when two voices
    take one note."""
    indices = [index for index, _, _ in way if index is not None]
    if len(indices) != len(set(indices)):
        return float("inf")
    cost = sum(c for _, _, c in way) + DROP * (notes - len(indices))
    sounding = [pitch for _, pitch, _ in way]
    cost += CROSSING * sum(1 for a, b in itertools.combinations(sounding, 2)
                           if a >= 0 and b >= 0 and a < b)
    moves = [(line.last_pitch, pitch) for line, (index, pitch, _) in zip(voices, way, strict=True)
             if index is not None and line.last_pitch is not None]
    return cost + PARALLEL * sum(1 for a, b in itertools.combinations(moves, 2)
                                 if parallel_interval(a, b) is not None)
