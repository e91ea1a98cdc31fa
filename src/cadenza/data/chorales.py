"""Bach's four-part chorales as parts: music21's scores, and matching them to the JSB frames.

music21 bundles the chorales as scores whose four parts (soprano, alto, tenor, bass) are
kept apart; the JSB Chorales (:mod:`cadenza.data.boulanger`) hold the same repertoire as
quarter-note frames of pitches, transposed to C, with no parts. :func:`chorale_parts` reads a
music21 chorale's parts as note arrays, :func:`beat_frames` samples them at every beat as JSB
does, and :func:`same_piece` tells whether two frame sequences are one chorale in any key
(their transposition-free three-frame shapes mostly agree). music21 is optional
(``pip install 'cadenza[music21]'``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cadenza.data.bach import INSTALL_HINT
from cadenza.errors import ConfigError
from cadenza.score import NOTE_DTYPE, make_notes

__all__ = ["SAME_PIECE", "beat_frames", "chorale_parts", "four_parts_throughout",
           "frame_shapes", "same_piece"]

TICKS_PER_QUARTER = 4
SAME_PIECE = 0.5  # share of three-frame shapes in common above which two pieces are one
Frames = Sequence[Sequence[int]]


def chorale_parts(name: str, ticks_per_quarter: int = TICKS_PER_QUARTER
                  ) -> list[np.ndarray] | None:
    """The parts of the music21 chorale ``name`` (``"bach/bwv269"``), the highest first, as
    note arrays at ``ticks_per_quarter``; ``None`` unless it has exactly four parts of single
    notes (no chords)."""
    try:
        import music21
    except ImportError:
        raise ConfigError(f"music21 is not installed; run: {INSTALL_HINT}") from None
    stream = music21.corpus.parse(name)
    parts = list(stream.parts)
    if len(parts) != 4:
        return None
    out = []
    for part in parts:
        rows = []
        for note in part.flatten().notes:
            if note.isChord:
                return None
            start = round(float(note.getOffsetInHierarchy(stream)) * ticks_per_quarter)
            length = max(1, round(float(note.quarterLength) * ticks_per_quarter))
            rows.append((start, length, int(note.pitch.midi)))
        starts, lengths, pitches = zip(*rows, strict=True) if rows else ((), (), ())
        out.append(make_notes(list(starts), list(lengths), list(pitches), velocity=80)
                   if rows else np.zeros(0, NOTE_DTYPE))
    return out


def beat_frames(parts: Sequence[np.ndarray], ticks_per_quarter: int = TICKS_PER_QUARTER,
                rests: bool = False) -> list[tuple[int, ...]] | None:
    """The pitches sounding at each quarter-note beat (sorted, a unison once, as in JSB), or
    ``None`` when some part rests at some beat (with ``rests``, a resting part is left out
    of the frame instead)."""
    ends = [int((p["start"] + p["duration"]).max()) for p in parts if len(p)]
    if not ends or (len(ends) < len(parts) and not rests):
        return None
    frames = []
    for beat in range(0, max(ends), ticks_per_quarter):
        frame: set[int] = set()
        for notes in parts:
            sounding = notes["pitch"][(notes["start"] <= beat)
                                      & (notes["start"] + notes["duration"] > beat)]
            if len(sounding) == 0 and not rests:
                return None
            frame.update(int(p) for p in sounding[:1])
        frames.append(tuple(sorted(frame)))
    return frames


def four_parts_throughout(frames: Frames) -> bool:
    """Whether every frame sounds three or four pitches (two parts in unison sound three;
    fewer is a rest in two parts or more)."""
    return all(3 <= len(set(frame)) <= 4 for frame in frames)


def frame_shapes(frames: Frames) -> set[tuple[int, ...]]:
    """Transposition-free shapes of every three consecutive frames: their pitches less the
    lowest of them, frame by frame (-1 between frames)."""
    out = set()
    for i in range(len(frames) - 2):
        window = [p for frame in frames[i:i + 3] for p in (*sorted(set(frame)), -1)]
        sounding = [p for p in window if p >= 0]
        low = min(sounding) if sounding else 0
        out.add(tuple(p - low if p >= 0 else -1 for p in window))
    return out


def same_piece(a: set[tuple[int, ...]], b: set[tuple[int, ...]]) -> bool:
    """Whether two pieces' :func:`frame_shapes` are one chorale's (more than
    :data:`SAME_PIECE` of them in common)."""
    return len(a & b) / max(1, len(a | b)) > SAME_PIECE
