"""Ensembles: the instruments a piece is written for, each one a part with its range.

``cadenza generate --ensemble satb`` (``quartet``, ``piano``) writes one MIDI track and one
MusicXML part per instrument. An ensemble is data: its parts from the top down, each with a
General MIDI program, a written range and whether it plays one note at a time, and the
shipped model that composes for it when no checkpoint is given. The notes of a composed
piece are shared among the parts by :mod:`cadenza.voicing`.

Ranges (inclusive, scientific pitch, C4 = MIDI 60): soprano C4-G5, alto G3-D5, tenor C3-G4,
bass E2-C4 (the usual choral ranges); violin G3-E7, viola C3-E6, cello C2-C5 (the open
strings up to a good player's high register). The piano's two hands split at middle C.
"""

from __future__ import annotations

from dataclasses import dataclass

from cadenza.controls import parse_pitch
from cadenza.errors import ConfigError

__all__ = ["ENSEMBLES", "Ensemble", "Part", "get_ensemble", "pitch_name"]

_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def pitch_name(pitch: int) -> str:
    """MIDI pitch -> scientific name, 60 -> ``"C4"`` (sharps and flats as commonly written)."""
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


@dataclass(frozen=True)
class Part:
    """One instrument of an ensemble.

    Attributes:
        name: its name on the MIDI track and in the score ("Soprano", "Violin I").
        program: its General MIDI program (0..127; 52: choir aahs, 40: violin).
        low, high: its written range, inclusive MIDI pitches.
        clef: the music21 clef class it is written in ("TrebleClef", "AltoClef", ...).
        instrument: the music21 instrument class naming it in MusicXML.
    """

    name: str
    program: int
    low: int
    high: int
    clef: str = "TrebleClef"
    instrument: str = "Piano"

    def __post_init__(self) -> None:
        if not 0 <= self.program <= 127:
            raise ConfigError(f"{self.name}: program must be in 0..127, got {self.program}")
        if not 0 <= self.low < self.high <= 127:
            raise ConfigError(f"{self.name}: range {self.low}..{self.high} is not a range")

    @property
    def centre(self) -> float:
        """The middle of the range (where a part with no note yet is drawn toward)."""
        return (self.low + self.high) / 2

    def holds(self, pitch: int) -> bool:
        return self.low <= pitch <= self.high


@dataclass(frozen=True)
class Ensemble:
    """The parts of an ensemble, from the highest down.

    Attributes:
        name: as ``--ensemble`` takes it.
        parts: its instruments, the highest part first.
        monophonic: every part plays one note at a time (false for the piano, whose two
            hands take every note above and below middle C).
        default_model: the shipped model composing for it when no checkpoint is given
            (``None``: the default shipped model).
        composer: the composer whose primers open its pieces when the request names no
            primer and the model has primers by them (``None``: any).
        avoid_parallels: the chance that a biaxial model composing for it keeps a draw of
            a step that moves in no parallel fifth or octave, when the request does not set
            one (:mod:`cadenza.generation.parallels`; 0: the model's own default).
    """

    name: str
    parts: tuple[Part, ...]
    monophonic: bool = True
    default_model: str | None = None
    composer: str | None = None
    avoid_parallels: float = 0.0

    @property
    def low(self) -> int:
        return min(part.low for part in self.parts)

    @property
    def high(self) -> int:
        return max(part.high for part in self.parts)

    @property
    def range_text(self) -> str:
        """The whole ensemble's range as ``--range`` takes it, e.g. ``"E2-G5"``."""
        return f"{pitch_name(self.low)}-{pitch_name(self.high)}"

    @property
    def max_polyphony(self) -> int:
        """Notes the ensemble can sound at once (0: no limit, the piano)."""
        return len(self.parts) if self.monophonic else 0


def _part(name: str, program: int, low: str, high: str, clef: str, instrument: str) -> Part:
    return Part(name, program, parse_pitch(low), parse_pitch(high), clef, instrument)


CHOIR = 52  # General MIDI "Choir Aahs"
ENSEMBLES: dict[str, Ensemble] = {
    "satb": Ensemble("satb", (
        _part("Soprano", CHOIR, "C4", "G5", "TrebleClef", "Soprano"),
        _part("Alto", CHOIR, "G3", "D5", "TrebleClef", "Alto"),
        _part("Tenor", CHOIR, "C3", "G4", "Treble8vbClef", "Tenor"),
        _part("Bass", CHOIR, "E2", "C4", "BassClef", "Bass"),
    ), default_model="chorale-satb", composer="Bach", avoid_parallels=1.0),
    "quartet": Ensemble("quartet", (
        _part("Violin I", 40, "G3", "E7", "TrebleClef", "Violin"),
        _part("Violin II", 40, "G3", "E7", "TrebleClef", "Violin"),
        _part("Viola", 41, "C3", "E6", "AltoClef", "Viola"),
        _part("Cello", 42, "C2", "C5", "BassClef", "Violoncello"),
    )),
    "piano": Ensemble("piano", (
        _part("Piano right hand", 0, "C4", "C8", "TrebleClef", "Piano"),
        _part("Piano left hand", 0, "A0", "B3", "BassClef", "Piano"),
    ), monophonic=False),
}


def get_ensemble(name: str) -> Ensemble:
    """The ensemble called ``name`` (``satb``, ``quartet``, ``piano``).

    Raises:
        ConfigError: no ensemble has that name (the message lists them).
    """
    ensemble = ENSEMBLES.get(str(name).strip().lower())
    if ensemble is None:
        raise ConfigError(f"ensemble must be one of {', '.join(ENSEMBLES)}, got {name!r}")
    return ensemble
