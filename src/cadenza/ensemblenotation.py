"""An ensemble's score as sheet music: one MusicXML part per instrument.

Each part gets its own staff, clef and instrument name (Soprano, Alto, Tenor and Bass;
Violin I, Violin II, Viola and Cello), all on the same bars, key signature and tempo as
:mod:`cadenza.notation` would write the whole piece. The piano ensemble is written as the
piano score :func:`cadenza.notation.musicxml_bytes` makes (two staves, one part).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cadenza.ensembles import Ensemble
from cadenza.errors import ConfigError, NotationError
from cadenza.notation import (
    SCREEN_PAGE_WIDTH,
    Engraving,
    check_notation_size,
    join_pages,
    musicxml_bytes,
    notation_frame,
    stream_musicxml_bytes,
    svg_pages,
    titled_score,
)
from cadenza.score import Score, quantise
from cadenza.staves import finish_staff, hand_staff, music21_module

__all__ = ["engrave_ensemble", "ensemble_musicxml_bytes", "ensemble_to_stream"]


def ensemble_to_stream(piece: Score, parts: Sequence[Score], ensemble: Ensemble,
                       steps_per_quarter: int = 4) -> Any:
    """A music21 score of ``parts`` (one score per part of ``ensemble``, in its order;
    ``piece`` is all of them together, which sets the key signature and the bars).

    Raises:
        ConfigError: the parts are not one per part of the ensemble.
        NotationError: music21 is not installed, or the piece has no notes.
    """
    if len(parts) != len(ensemble.parts):
        raise ConfigError(f"{ensemble.name}: {len(ensemble.parts)} parts expected, got "
                          f"{len(parts)}")
    if piece.num_notes == 0:
        raise NotationError(f"{piece.name or 'score'}: no notes to write as sheet music")
    check_notation_size(piece)
    m21 = music21_module()
    frame = notation_frame(piece, steps_per_quarter)
    stream = titled_score(piece)
    for index, (part, score) in enumerate(zip(ensemble.parts, parts, strict=True)):
        notes = quantise(score, steps_per_quarter).notes
        staff = hand_staff(notes, steps_per_quarter, frame.bar_lines,
                           getattr(m21.clef, part.clef)(), frame.key.sharps, part=True)
        instrument = getattr(m21.instrument, part.instrument)()
        instrument.partName = part.name
        instrument.midiProgram = part.program
        staff.insert(0, instrument)
        staff.partName = part.name
        if index == 0:
            staff.insert(0, m21.tempo.MetronomeMark(number=max(1, round(frame.qpm)),
                                                    referent="quarter"))
        finish_staff(staff, frame, 1)
        stream.insert(0, staff)
    return stream


def ensemble_musicxml_bytes(piece: Score, parts: Sequence[Score], ensemble: Ensemble) -> bytes:
    """The ensemble's score as uncompressed MusicXML: one part per instrument (the piano: its
    two-staff piano score)."""
    if not ensemble.monophonic:
        return musicxml_bytes(piece)
    return stream_musicxml_bytes(ensemble_to_stream(piece, parts, ensemble))


def engrave_ensemble(piece: Score, parts: Sequence[Score], ensemble: Ensemble,
                     page_width: int = SCREEN_PAGE_WIDTH) -> Engraving:
    """The ensemble's score as MusicXML (a part per instrument) and its pages engraved by
    Verovio, as :func:`cadenza.notation.engrave` does for a piano score."""
    xml = ensemble_musicxml_bytes(piece, parts, ensemble)
    return Engraving(xml, join_pages(svg_pages(xml, page_width)))
