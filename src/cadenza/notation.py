"""Sheet music: a score as a two-staff piano score, MusicXML and SVG pages.

``score_to_stream`` quantises a :class:`~cadenza.score.Score` to a grid (16th notes by
default) and writes it out as a music21 piano score: the right hand (pitch 60, middle C,
and above) on a treble staff, the left hand on a bass staff, with the key signature that
fits the written notes best (:func:`signature_key`), the score's time signatures and its
first tempo; eighths and shorter notes are beamed by beat. Notes of one hand that start and
end together become a chord; notes that overlap otherwise go to separate voices, so every
duration stays exactly as quantised. ``musicxml_bytes`` exports that through music21 and
``svg_pages`` engraves MusicXML with Verovio.

music21 and Verovio are optional (``pip install 'cadenza[notation]'``) and imported only
when one of these functions runs; without them a :class:`~cadenza.errors.NotationError`
says how to install them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from cadenza.controls import MAJOR, Key, detect_key
from cadenza.errors import ConfigError, NotationError, printable_path
from cadenza.score import DEFAULT_QPM, Score, TimeSignature, quantise
from cadenza.staves import (
    INSTALL_HINT,
    NotationFrame,
    finish_staff,
    hand_staff,
    music21_module,
)

__all__ = ["INSTALL_HINT", "Engraving", "check_notation_size", "count_svg_notes", "engrave",
           "join_pages", "musicxml_bytes", "notation_frame", "score_to_stream",
           "signature_key", "stream_musicxml_bytes", "svg_pages", "titled_score"]

MIDDLE_C = 60  # the lowest pitch of the right hand
DEFAULT_PAGE_WIDTH = 2100  # Verovio units (tenths of a millimetre): A4 portrait
SVG_SCALE = 40  # percent; small enough for a few systems of piano music per page
# The page the web studio shows: 1280 px wide at SVG_SCALE, about 6 bars of piano music a
# system, drawn at the width of the browser window (an A4 page gives about 4).
SCREEN_PAGE_WIDTH = 3200
# Verovio writes these attributes of every tie into the SVG, so that count_svg_notes can tell
# a note head that continues a tie from one that is struck.
DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)  # of the time signatures notation can show
VOICES_PER_STAFF = 4  # voice numbers of the treble staff before the bass staff's (MusicXML)
TIE_ATTRIBUTES = ["tie@startid", "tie@endid"]
# Key signatures whose scales cover within this share of the notes' duration of the best
# one are near ties (see signature_key).
SIGNATURE_TOLERANCE = 0.02
# The most sheet music is written for: music21's measures cost time that grows faster than
# their number (500 bars of rests take about 9 s, 1,000 bars 40 s), and every note is an
# object of a few kilobytes. The longest piano-midi.de piece has 1,929 quarter notes and the
# fullest 17,225 notes; a note at tick 2**28 would be 140,000 bars.
MAX_NOTATION_QUARTERS = 8_192  # 2,048 bars of 4/4
MAX_NOTATION_NOTES = 50_000


_music21 = music21_module


def _verovio() -> ModuleType:
    try:
        import verovio
    except ImportError:
        raise NotationError(INSTALL_HINT) from None
    return verovio


# -- the score as notation -------------------------------------------------------------------
def check_notation_size(score: Score, name: str | Path | None = None) -> None:
    """Refuse, before any work, a score longer than :data:`MAX_NOTATION_QUARTERS` quarter
    notes or with more than :data:`MAX_NOTATION_NOTES` notes.

    Raises:
        NotationError: naming ``name`` (default: the score's name) and the limit passed.
    """
    what = printable_path(name if name is not None else score.name or "score")
    quarters = score.end_tick / score.ticks_per_quarter
    if quarters > MAX_NOTATION_QUARTERS:
        raise NotationError(f"{what}: {quarters:,.0f} quarter notes long, more than the "
                            f"{MAX_NOTATION_QUARTERS:,} sheet music is written for")
    if score.num_notes > MAX_NOTATION_NOTES:
        raise NotationError(f"{what}: {score.num_notes:,} notes, more than the "
                            f"{MAX_NOTATION_NOTES:,} sheet music is written for")


def _bar_lines(
    end: Fraction, signatures: tuple[TimeSignature, ...], ticks_per_quarter: int
) -> tuple[list[Fraction], list[tuple[Fraction, TimeSignature]]]:
    """Bar-line offsets (in quarter notes) from 0 up to the first at or after ``end``, and
    the time signatures in force, each moved to the first bar line at or after its tick.

    A score without signatures is in 4/4; one whose first signature starts late is in 4/4
    until then. Signatures that cannot be written (a denominator that is not a power of
    two up to 64, a numerator of 0) are left out.
    """
    pending = sorted((s for s in signatures if s.numerator > 0 and s.denominator in DENOMINATORS),
                     key=lambda s: s.tick)
    if not pending or pending[0].tick > 0:
        pending.insert(0, TimeSignature(0, 4, 4))
    lines = [Fraction(0)]
    placed: list[tuple[Fraction, TimeSignature]] = []
    current = pending[0]
    while True:
        here = lines[-1]
        changed = False
        while pending and Fraction(pending[0].tick, ticks_per_quarter) <= here:
            current, changed = pending.pop(0), True
        if changed and (not placed or placed[-1][1].label != current.label):
            placed.append((here, current))
        if here >= end and len(lines) > 1:
            return lines, placed
        lines.append(here + Fraction(4 * current.numerator, current.denominator))


def _sharps(key: Key) -> int:
    """The key signature of ``key``: sharps (positive) or flats (negative), -5..6."""
    major_tonic = key.tonic if key.mode == "major" else (key.tonic + 3) % 12
    sharps = (major_tonic * 7) % 12  # steps round the circle of fifths from C
    return sharps - 12 if sharps > 6 else sharps


def signature_key(pitches: np.ndarray, durations: np.ndarray) -> Key:
    """The key whose signature best fits the notes written: its major scale covers the
    most of their pitch classes, weighted by ``durations``.

    Signatures that cover within :data:`SIGNATURE_TOLERANCE` (a share of the duration) of
    the best are near ties: the key detected from the notes wins among them when its
    signature is one, else the signature with the fewest accidentals (then the most
    covered), whose major or relative minor is the one the notes suggest. A detected key
    whose signature the notes disagree with (a piece of naturals that opens in A major)
    is not written. C major for no notes.
    """
    if len(pitches) == 0:
        return Key(0, "major")
    histogram = np.bincount(np.asarray(pitches) % 12, weights=np.asarray(durations, float),
                            minlength=12)
    total = float(histogram.sum()) or 1.0
    cover = {}
    for sharps in range(-5, 7):  # 6 flats would be 6 sharps' scale again: sharps are written
        tonic = (sharps * 7) % 12
        cover[sharps] = sum(float(histogram[(tonic + step) % 12]) for step in MAJOR) / total
    best = max(cover.values())
    near = [s for s in cover if cover[s] >= best - SIGNATURE_TOLERANCE]
    detected = detect_key(pitches, durations)
    if _sharps(detected) in near:
        return detected
    sharps = min(near, key=lambda s: (abs(s), -cover[s], -s))
    major = Key((sharps * 7) % 12, "major")
    return detect_key(pitches, durations, candidates=[major, Key((major.tonic + 9) % 12, "minor")])


def _music21_key(key: Key) -> Any:
    """The music21 key of ``key``, spelt with the fewer accidentals (F# rather than Gb)."""
    return _music21().key.KeySignature(_sharps(key)).asKey(key.mode)


def notation_frame(score: Score, steps_per_quarter: int) -> NotationFrame:
    """``score`` quantised to the grid, with its bars, key signature and first tempo."""
    grid = quantise(score, steps_per_quarter)
    notes = grid.notes
    end = Fraction(int((notes["start"] + notes["duration"]).max()), steps_per_quarter)
    bar_lines, signatures = _bar_lines(end, grid.time_signatures, steps_per_quarter)
    key = _music21_key(signature_key(notes["pitch"], notes["duration"]))
    qpm = grid.tempos[0].qpm if len(grid.tempos) else DEFAULT_QPM
    return NotationFrame(grid, bar_lines, signatures, key, qpm)


def titled_score(score: Score) -> Any:
    """An empty music21 score titled with ``score``'s name and composer."""
    m21 = _music21()
    piece = m21.stream.Score()
    piece.insert(0, m21.metadata.Metadata(title=score.name or "cadenza"))
    piece.metadata.composer = score.composer or ""  # not music21's default, "Music21"
    return piece


def score_to_stream(score: Score, steps_per_quarter: int = 4) -> Any:
    """``score`` as a music21 piano score (a ``music21.stream.Score`` of two staves).

    Notes are quantised to ``steps_per_quarter`` steps per quarter note (at least one step
    long; as :func:`~cadenza.score.quantise` does, a note still sounding when its pitch is
    struck again is cut there, and of two notes struck together on one pitch one is kept)
    and split at middle C: pitch 60 and above to the treble staff, the rest to the
    bass staff. Notes of one staff with the same start and duration become a chord; other
    overlaps become separate voices. Gaps are rests, notes crossing bar lines are tied, and
    the last bar is completed with rests. The key signature is :func:`signature_key`'s (the
    one whose scale covers the most of the notes), notes are beamed by beat (by the time
    signature's beam groups: each quarter in 4/4), the metre follows the score's time
    signatures (4/4 without any; a change is moved to the next bar line) and the tempo
    mark is the score's first tempo.

    Raises:
        NotationError: music21 is not installed, the score has no notes, or it is larger
            than :func:`check_notation_size` allows.
        ConfigError: ``steps_per_quarter`` is not positive.
    """
    if steps_per_quarter <= 0:
        raise ConfigError(f"steps_per_quarter must be positive, got {steps_per_quarter}")
    if score.num_notes == 0:
        raise NotationError(f"{score.name or 'score'}: no notes to write as sheet music")
    check_notation_size(score)
    m21 = _music21()
    frame = notation_frame(score, steps_per_quarter)
    notes = frame.grid.notes
    right = hand_staff(notes[notes["pitch"] >= MIDDLE_C], steps_per_quarter, frame.bar_lines,
                       m21.clef.TrebleClef(), frame.key.sharps)
    left = hand_staff(notes[notes["pitch"] < MIDDLE_C], steps_per_quarter, frame.bar_lines,
                      m21.clef.BassClef(), frame.key.sharps)
    right.insert(0, m21.instrument.Piano())
    right.insert(0, m21.tempo.MetronomeMark(number=max(1, round(frame.qpm)), referent="quarter"))
    bass_voice = max(VOICES_PER_STAFF, len(right.voices)) + 1
    for staff, first_voice in ((right, 1), (left, bass_voice)):
        finish_staff(staff, frame, first_voice)

    piece = titled_score(score)
    piece.insert(0, right)
    piece.insert(0, left)
    piece.insert(0, m21.layout.StaffGroup([right, left], name="Piano", symbol="brace"))
    return piece


# -- MusicXML and SVG ------------------------------------------------------------------------
def musicxml_bytes(score: Score) -> bytes:
    """``score`` as uncompressed MusicXML (``.musicxml``), through :func:`score_to_stream`.

    Nothing is written to disk.

    Raises:
        NotationError: music21 is not installed, or the score has no notes.
    """
    return stream_musicxml_bytes(score_to_stream(score))


def stream_musicxml_bytes(stream: Any) -> bytes:
    """A music21 score made here (its notation already made) as uncompressed MusicXML."""
    m21 = _music21()
    exporter = m21.musicxml.m21ToXml.GeneralObjectExporter(stream)
    exporter.makeNotation = False  # score_to_stream made it already; saves a deep copy
    return bytes(exporter.parse())


def svg_pages(xml: bytes, page_width: int = DEFAULT_PAGE_WIDTH) -> list[str]:
    """Engrave MusicXML with Verovio: one SVG document per page.

    Pages are ``page_width`` Verovio units wide (2100 is A4) and only as tall as their
    systems; systems break where Verovio sees fit. Ties carry ``data-startid`` and
    ``data-endid`` attributes, which :func:`count_svg_notes` uses.

    Raises:
        NotationError: Verovio is not installed, or it cannot read ``xml``.
        ConfigError: ``page_width`` is not positive.
    """
    if page_width <= 0:
        raise ConfigError(f"page width must be positive, got {page_width}")
    vrv = _verovio()
    vrv.enableLog(vrv.LOG_OFF)  # Verovio's warnings would go straight to stderr
    # The toolkit finds its fonts through a path set up on the main thread only; give it
    # the package's own data folder so that it engraves on any thread (the web workers).
    toolkit = vrv.toolkit(False)
    data = Path(str(vrv.__file__)).resolve().parent / "data"
    if not toolkit.setResourcePath(str(data)):
        raise NotationError(f"verovio's fonts were not found in {data}")
    toolkit.setOptions({
        "pageWidth": page_width,
        "adjustPageHeight": True,
        "scale": SVG_SCALE,
        "breaks": "auto",
        "xmlIdSeed": 1,  # the same input gives the same SVG
        "svgAdditionalAttribute": TIE_ATTRIBUTES,
    })
    text = xml.decode("utf-8", errors="replace")
    if not toolkit.loadData(text) or toolkit.getPageCount() < 1:
        raise NotationError("verovio could not read the MusicXML")
    return [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]


_ELEMENT = re.compile(r"<g\b[^>]*>")
_ATTRIBUTE = re.compile(r'([\w:-]+)="([^"]*)"')


def count_svg_notes(svg: str, *, tied: bool = False) -> int:
    """The notes shown in one SVG page of :func:`svg_pages`: each element of class ``note``
    (one per note head, chord members included) counts once.

    A note head that only continues a tie (the end of a tie drawn on this page) is a note
    held, not struck, so it is left out unless ``tied`` is true: by default the count is the
    number of notes struck, which for cadenza's own scores is the number of MIDI notes
    shown. Tie ends are only known from the ``data-endid`` attributes that
    :func:`svg_pages` asks Verovio for.
    """
    notes: set[str] = set()
    tie_ends: set[str] = set()
    for match in _ELEMENT.finditer(svg):
        attributes = dict(_ATTRIBUTE.findall(match.group(0)))
        classes = attributes.get("class", "").split()
        if "note" in classes:
            notes.add(attributes.get("id", f"#{match.start()}"))
        elif "tie" in classes and "data-endid" in attributes:
            tie_ends.add(attributes["data-endid"].lstrip("#"))
    return len(notes) if tied else len(notes - tie_ends)


# -- one document for a page ------------------------------------------------------------------
_SVG_ROOT = re.compile(r"<svg\b[^>]*>")
_LENGTH = re.compile(r'\b(width|height)="([\d.]+)(px)?"')
PAGE_GAP = 20  # pixels between stacked pages


def join_pages(pages: list[str]) -> str:
    """The pages of :func:`svg_pages` stacked top to bottom in one SVG document."""
    if len(pages) == 1:
        return pages[0]
    parts: list[str] = []
    top = 0.0
    width = 0.0
    for page in pages:
        body = page[page.index("<svg"):] if "<svg" in page else page
        root = _SVG_ROOT.match(body)
        sizes = dict((k, float(v)) for k, v, _ in _LENGTH.findall(root.group(0))) if root else {}
        page_width, page_height = sizes.get("width", 0.0), sizes.get("height", 0.0)
        # Nested <svg> elements keep each page's own coordinate system; y places it.
        parts.append(body.replace("<svg", f'<svg y="{top:g}"', 1))
        top += page_height + PAGE_GAP
        width = max(width, page_width)
    height = max(top - PAGE_GAP, 0.0)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
            f' width="{width:g}px" height="{height:g}px" viewBox="0 0 {width:g} {height:g}">'
            + "".join(parts) + "</svg>")


@dataclass(frozen=True)
class Engraving:
    """A score as MusicXML and as one SVG document of all its pages."""

    musicxml: bytes
    svg: str


def engrave(score: Score, page_width: int = SCREEN_PAGE_WIDTH) -> Engraving:
    """MusicXML of ``score`` and its pages engraved by Verovio ``page_width`` units wide
    (by default for a screen, not a printed page), stacked in one SVG.

    Raises:
        NotationError: music21 or Verovio is missing, or the score has no notes.
        ConfigError: ``page_width`` is not positive.
    """
    xml = musicxml_bytes(score)
    return Engraving(xml, join_pages(svg_pages(xml, page_width)))
