"""Building the staves of sheet music with music21: one staff of notes (chords, voices,
rests), then its measures, ties, accidentals and beams.

:mod:`cadenza.notation` writes a piano score with these (a treble and a bass staff);
:mod:`cadenza.ensemblenotation` an ensemble's score (a staff per instrument). music21 is
optional and imported only when a function here runs.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from types import ModuleType
from typing import Any

import numpy as np

from cadenza.errors import NotationError
from cadenza.score import Score, TimeSignature

__all__ = ["INSTALL_HINT", "NotationFrame", "finish_staff", "hand_staff", "music21_module"]

INSTALL_HINT = "sheet music needs music21 and verovio: pip install 'cadenza[notation]'"


def music21_module() -> ModuleType:
    """music21, or a :class:`~cadenza.errors.NotationError` saying how to install it."""
    try:
        import music21
    except ImportError:
        raise NotationError(INSTALL_HINT) from None
    return music21


def _voices(events: list[tuple[int, int, list[int]]]) -> list[list[tuple[int, int, list[int]]]]:
    """Share chords ``(start, duration, pitches)`` (sorted by start) among as few voices as
    needed: each goes to the first voice that is silent by its start."""
    voices: list[list[tuple[int, int, list[int]]]] = []
    ends: list[int] = []
    for event in events:
        start, duration, _ = event
        for index, end in enumerate(ends):
            if end <= start:
                voices[index].append(event)
                ends[index] = start + duration
                break
        else:
            voices.append([event])
            ends.append(start + duration)
    return voices


def hand_staff(
    notes: np.ndarray, steps_per_quarter: int, bar_lines: list[Fraction], clef: Any,
    sharps: int, part: bool = False,
) -> Any:
    """One staff (a music21 ``PartStaff``, or with ``part`` a ``Part`` of its own; without
    measures yet) holding ``notes``."""
    m21 = music21_module()
    chords: dict[tuple[int, int], list[int]] = defaultdict(list)
    for start, duration, pitch in zip(
        notes["start"].tolist(), notes["duration"].tolist(), notes["pitch"].tolist(), strict=True
    ):
        chords[(start, duration)].append(pitch)
    events = [(start, duration, sorted(p)) for (start, duration), p in sorted(chords.items())]
    staff = m21.stream.Part() if part else m21.stream.PartStaff()
    staff.insert(0, clef)
    voices = _voices(events) or [[]]
    for number, voice_events in enumerate(voices, start=1):
        voice = m21.stream.Voice(id=str(number))
        cursor = Fraction(0)
        for start, duration, pitches in voice_events:
            onset = Fraction(start, steps_per_quarter)
            _rests(voice, cursor, onset, bar_lines, hidden=number > 1)
            length = Fraction(duration, steps_per_quarter)
            spelt = [_pitch(midi, sharps) for midi in pitches]
            element = (m21.note.Note(spelt[0], quarterLength=length) if len(spelt) == 1
                       else m21.chord.Chord(spelt, quarterLength=length))
            voice.coreInsert(onset, element)
            cursor = onset + length
        _rests(voice, cursor, bar_lines[-1], bar_lines, hidden=number > 1)
        voice.coreElementsChanged()
        staff.insert(0, voice)
    return staff


def _pitch(midi: int, sharps: int) -> Any:
    """The music21 pitch of a MIDI number: a black key is spelt as a sharp in a key with
    sharps, as a flat in a key with flats, and as music21 spells it in C major or A minor
    (C#, E-flat, F#, G#, B-flat)."""
    m21 = music21_module()
    pitch = m21.pitch.Pitch(midi=midi)
    if pitch.accidental is not None and pitch.accidental.alter * sharps < 0:
        pitch = pitch.getEnharmonic()
    return pitch


def _rests(
    voice: Any, start: Fraction, end: Fraction, bar_lines: list[Fraction], hidden: bool
) -> None:
    """Fill ``voice`` with rests from ``start`` to ``end``, one per bar they cross; rests of
    an inner voice are hidden (they only keep the voice's time)."""
    m21 = music21_module()
    inside = bar_lines[bisect.bisect_right(bar_lines, start):bisect.bisect_left(bar_lines, end)]
    cuts = [start, *inside, end]
    for lo, hi in itertools.pairwise(cuts):
        if hi > lo:
            rest = m21.note.Rest(quarterLength=hi - lo)
            rest.style.hideObjectOnPrint = hidden
            voice.coreInsert(lo, rest)


def _drop_empty_voices(staff: Any) -> None:
    """Drop the inner voices of a measure that hold only (hidden) rests."""
    m21 = music21_module()
    for measure in staff.getElementsByClass(m21.stream.Measure):
        for voice in list(measure.voices)[1:]:
            if not voice.notes:
                measure.remove(voice)


def _number_voices(staff: Any, first_voice: int) -> None:
    """Number the voices of each measure from ``first_voice`` up.

    MusicXML numbers the voices of both staves of a part together, so the bass staff's
    voices start above the treble staff's, as notation programs do (1-4 and 5-8).
    """
    m21 = music21_module()
    for measure in staff.getElementsByClass(m21.stream.Measure):
        for number, voice in enumerate(measure.voices, start=first_voice):
            voice.id = number


def _make_beams(staff: Any) -> None:
    """Beam the notes of every measure of ``staff`` by its time signature.

    music21's ``makeBeams`` looks the time signature of every measure that does not start
    with one up through the whole staff, which is slow for long pieces; here each measure
    holds its signature while it is beamed.
    """
    m21 = music21_module()
    measures = list(staff.getElementsByClass(m21.stream.Measure))
    borrowed = []
    current = None
    for measure in measures:
        if measure.timeSignature is not None:
            current = measure.timeSignature
        elif current is not None:
            measure.timeSignature = m21.meter.TimeSignature(current.ratioString)
            borrowed.append(measure)
    staff.makeBeams(inPlace=True)
    for measure in borrowed:
        measure.timeSignature = None


@dataclass(frozen=True)
class NotationFrame:
    """What every staff of a score shares: the notes on the grid, the bar lines and time
    signatures, the key signature and the tempo."""

    grid: Score
    bar_lines: list[Fraction]
    signatures: list[tuple[Fraction, TimeSignature]]
    key: Any  # music21 Key
    qpm: float


def finish_staff(staff: Any, frame: NotationFrame, first_voice: int) -> None:
    """Measures, key signature, ties, voices, accidentals, beams and the final bar line of a
    staff made by :func:`hand_staff`."""
    m21 = music21_module()
    for offset, signature in frame.signatures:
        staff.insert(offset, m21.meter.TimeSignature(signature.label))
    staff.makeMeasures(inPlace=True)
    measures = staff.getElementsByClass(m21.stream.Measure)
    measures.first().keySignature = m21.key.Key(frame.key.tonic.name, frame.key.mode)
    staff.makeTies(inPlace=True)  # notes across bar lines
    staff.splitAtDurations(recurse=True)  # tied notes for lengths such as 5 sixteenths
    _drop_empty_voices(staff)
    _number_voices(staff, first_voice)
    m21.stream.makeNotation.makeAccidentalsInMeasureStream(staff)
    _make_beams(staff)
    for measure in measures:
        for voice in measure.voices:  # a triplet grid's brackets, if any
            m21.stream.makeNotation.makeTupletBrackets(voice, inPlace=True)
    measures.last().rightBarline = m21.bar.Barline("final")
