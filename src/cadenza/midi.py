"""Reading and writing MIDI files: the only module of cadenza that imports a MIDI library.

``read_midi`` turns one file into a :class:`~cadenza.score.Score` (non-drum tracks merged into
one part, drums dropped), ``load_piece`` adds quantisation and time-signature filtering, and
``read_folder`` does that for a whole folder, skipping and counting bad files. Input files are
only ever opened for reading; ``write_midi`` writes atomically.
"""

from __future__ import annotations

import logging
import stat
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import symusic

from cadenza.errors import CadenzaError, ConfigError, MidiError
from cadenza.fileio import write_bytes_atomic
from cadenza.midifolder import MIDI_SUFFIXES as MIDI_SUFFIXES  # where they have always been
from cadenza.midifolder import find_midi_files as find_midi_files
from cadenza.midifolder import is_midi_path as is_midi_path
from cadenza.midifolder import scan_midi_folder
from cadenza.midiscan import last_tick
from cadenza.score import (
    NOTE_DTYPE,
    ORIGINAL_METERS,
    Marker,
    MeterFilterReport,
    Score,
    Tempo,
    TempoMap,
    TimeSignature,
    filter_time_signatures,
    make_notes,
    notes_from_columns,
    quantise,
)

log = logging.getLogger(__name__)

MIDI_MAGIC = b"MThd"
ALL_METERS = "all"
MAX_FILE_BYTES = 32 * 1024 * 1024  # the largest real MIDI files are a few MB
MAX_QUARTERS = 20_000  # about 2 h 45 min at 120 qpm; real pieces stay far below
INT32_MAX = 2**31 - 1  # the MIDI library counts ticks in 32 bits


@dataclass(frozen=True)
class ReadOptions:
    """How a MIDI file becomes a training piece.

    Attributes:
        steps_per_quarter: grid of the quantisation (4 = 16th notes); ``0`` keeps raw ticks.
        time_signatures: labels of the metres to keep (``("4/4",)`` as the biaxial model
            requires), ``("original",)`` for the biaxial original's rule (numerator 2 or 4,
            reading stops at the first other signature), or ``None`` to keep every section.
        min_notes: a piece with fewer notes after filtering is rejected as ``empty``.
        max_quarters: a piece whose last note ends later than this many quarter notes is
            rejected as ``too-long`` before anything the size of the piece is allocated.
    """

    steps_per_quarter: int = 4
    time_signatures: tuple[str, ...] | None = ("4/4",)
    min_notes: int = 1
    max_quarters: int = MAX_QUARTERS

    def __post_init__(self) -> None:
        if self.steps_per_quarter < 0:
            raise ConfigError(f"steps_per_quarter must be >= 0, got {self.steps_per_quarter}")
        if self.time_signatures is not None and self.time_signatures != (ORIGINAL_METERS,):
            for label in self.time_signatures:
                num, _, den = label.partition("/")
                if not (num.isdigit() and den.isdigit() and int(num) > 0 and int(den) > 0):
                    raise ConfigError(f"time signature must look like '4/4', got {label!r}")
        if self.min_notes < 0:
            raise ConfigError(f"min_notes must be >= 0, got {self.min_notes}")
        if self.max_quarters < 1:
            raise ConfigError(f"max_quarters must be >= 1, got {self.max_quarters}")

    @staticmethod
    def parse_meters(text: str) -> tuple[str, ...] | None:
        """Parse a CLI value such as ``"4/4,2/4"``, ``"all"`` or ``"original"``."""
        if text.strip().lower() == ALL_METERS:
            return None
        if text.strip().lower() == ORIGINAL_METERS:
            return (ORIGINAL_METERS,)
        return tuple(part.strip() for part in text.split(",") if part.strip())

    def to_dict(self) -> dict[str, object]:
        return {
            "steps_per_quarter": self.steps_per_quarter,
            "time_signatures": list(self.time_signatures) if self.time_signatures else None,
            "min_notes": self.min_notes,
            "max_quarters": self.max_quarters,
        }


def read_midi(path: str | Path, *, max_quarters: int = MAX_QUARTERS) -> Score:
    """Read one MIDI file into a raw (unquantised) score.

    Raises:
        MidiError: the file is missing, unreadable, not MIDI, corrupt, has no notes, or is
            larger or longer than the limits of :func:`parse_midi_bytes`.
    """
    return parse_midi_bytes(read_file_bytes(path), path, max_quarters=max_quarters)


def read_file_bytes(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``, opened read-only.

    Only a regular file (a link to one is fine) of at most ``max_bytes`` is read: a device
    such as ``/dev/zero`` would be read until memory runs out and a FIFO would block for ever.

    Raises:
        MidiError: ``not-found`` if it does not exist, ``not-a-file`` for a folder, device or
            FIFO, ``too-large`` over ``max_bytes``, ``unreadable`` for any other OS error.
    """
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise MidiError(path, "not-a-file", "not a regular file (a folder, device or FIFO)")
        if info.st_size > max_bytes:
            raise MidiError(path, "too-large",
                            f"{info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        with open(path, "rb") as handle:  # read no more than allowed, even if it grew
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise MidiError(path, "not-found", "no such file") from None
    except OSError as exc:
        raise MidiError(path, "unreadable", exc.strerror or str(exc)) from None
    if len(data) > max_bytes:
        raise MidiError(path, "too-large", f"more than the {max_bytes:,} bytes allowed")
    return data


def parse_midi_bytes(
    data: bytes, path: str | Path = "<bytes>", *, sort: bool = True,
    max_quarters: int = MAX_QUARTERS,
) -> Score:
    """Parse the bytes of a standard MIDI file (``path`` only names it in errors).

    Every MIDI file cadenza reads comes through here, so the limits hold for every command
    and the web page alike: at most :data:`MAX_FILE_BYTES`, and no note ending later than
    ``max_quarters`` quarter notes (:data:`MAX_QUARTERS` unless a caller asks for another).
    A note at tick 2**28 is thus refused here, before anything the length of the piece is
    rendered, drawn or written.

    ``sort=False`` leaves the notes in file order, track after track, for a caller that
    sorts them anyway (quantisation does); the score is not a valid one until then.

    Raises:
        MidiError: ``too-large``, ``not-midi``, ``corrupt``, ``unsupported`` (SMPTE time),
            ``empty`` (no notes), ``too-long`` (past ``max_quarters``, or ticks that do not
            fit the 32 bits the MIDI library counts in).
    """
    if len(data) > MAX_FILE_BYTES:
        raise MidiError(path, "too-large",
                        f"{len(data):,} bytes, more than the {MAX_FILE_BYTES:,} allowed")
    if len(data) == 0:
        raise MidiError(path, "not-midi", "file is empty")
    if not data.startswith(MIDI_MAGIC):
        raise MidiError(path, "not-midi", "no MThd header")
    if len(data) < 14:
        raise MidiError(path, "corrupt", "header shorter than 14 bytes")
    division = int.from_bytes(data[12:14], "big")
    if division == 0:
        raise MidiError(path, "corrupt", "time division 0 ticks per quarter")
    if division & 0x8000:
        raise MidiError(path, "unsupported", "SMPTE time division (frames per second)")
    try:
        sm = symusic.Score.from_midi(data)
    except Exception as exc:  # symusic raises plain RuntimeError/ValueError on bad data
        raise MidiError(path, "corrupt", str(exc).splitlines()[0] if str(exc) else "") from None
    try:
        score = _from_symusic(sm, Path(str(path)).stem, sort)
    except CadenzaError as exc:  # values the score refuses (e.g. a tick resolution)
        raise MidiError(path, "corrupt", str(exc)) from None
    if score.num_notes == 0 or int(score.notes["start"].min()) < 0:
        _check_tick_overflow(data, division, path)  # notes lost or wrapped past 32 bits?
    if score.num_notes == 0:
        raise MidiError(path, "empty", "no notes outside drum tracks")
    if int(score.notes["start"].min()) < 0:
        raise MidiError(path, "corrupt", "a note at a negative tick (tick counts overflow)")
    _check_quarters(score, max_quarters, path)
    return score


def _check_tick_overflow(data: bytes, division: int, path: str | Path) -> None:
    """Raise ``too-long`` when the file's events pass tick 2**31 - 1, past which the MIDI
    library's 32-bit ticks wrap round (a note held across it is lost, one after it lands
    at a negative tick). A file too damaged to walk keeps the reason it would have had."""
    try:
        end = last_tick(data, path)
    except MidiError:
        return
    if end > INT32_MAX:
        raise MidiError(path, "too-long", f"events up to tick {end:,} ({end / division:,.0f} "
                        f"quarter notes), past the {INT32_MAX:,} ticks a file may count")


def _from_symusic(sm: Any, name: str, sort: bool = True) -> Score:
    pitched = [t for t in sm.tracks if not t.is_drum and len(t.notes) > 0]
    parts = [t.notes.numpy() for t in pitched]
    # The instrument of the track with the most notes stands for the piece.
    program = int(max(pitched, key=lambda t: len(t.notes)).program) if pitched else 0
    if parts:
        start, duration, pitch, velocity = (
            np.concatenate([p[column] for p in parts])
            for column in ("time", "duration", "pitch", "velocity")
        )
        if duration.min() < 0:
            valid = duration >= 0
            start, duration, pitch, velocity = (
                start[valid], duration[valid], pitch[valid], velocity[valid]
            )
        build = make_notes if sort else notes_from_columns
        notes = build(start, duration, pitch, velocity)
    else:
        notes = np.empty(0, dtype=NOTE_DTYPE)
    # Real files hold up to tens of thousands of tempo changes: convert them column-wise.
    tempo_columns = sm.tempos.numpy()
    usable = tempo_columns["mspq"] > 0  # a tempo of 0 microseconds per quarter means nothing
    tempos = TempoMap(
        tempo_columns["time"][usable],
        60_000_000.0 / tempo_columns["mspq"][usable].astype(np.float64),
    )
    sigs = tuple(
        TimeSignature(int(t.time), int(t.numerator), int(t.denominator))
        for t in sm.time_signatures
    )
    markers = tuple(Marker(int(m.time), str(m.text)) for m in sm.markers)
    return Score(
        notes=notes,
        ticks_per_quarter=int(sm.ticks_per_quarter),
        tempos=tempos,
        time_signatures=sigs,
        markers=markers,
        name=name,
        program=program if 0 <= program <= 127 else 0,
    )


def check_length(score: Score, options: ReadOptions, path: str | Path) -> None:
    """Raise ``too-long`` when the score's last note ends after ``options.max_quarters``."""
    _check_quarters(score, options.max_quarters, path)


def _check_quarters(score: Score, max_quarters: int, path: str | Path) -> None:
    ends = score.notes["start"].astype(np.int64) + score.notes["duration"]
    quarters = int(ends.max()) / score.ticks_per_quarter if len(ends) else 0.0
    if quarters > max_quarters:
        raise MidiError(path, "too-long", f"{quarters:,.0f} quarter notes, more than the "
                        f"{max_quarters:,} allowed")


def prepare_score(
    score: Score, options: ReadOptions, path: str | Path = "<score>"
) -> tuple[Score, MeterFilterReport]:
    """Filter ``score`` by time signature, then quantise it, as ``options`` say."""
    check_length(score, options, path)
    filtered, report = filter_time_signatures(score, options.time_signatures)
    if filtered.num_notes < max(options.min_notes, 1):
        dropped = ",".join(report.dropped_signatures) or "none"
        if report.dropped_ticks:
            raise MidiError(path, "time-signature", f"no notes in kept metres; dropped {dropped}")
        raise MidiError(path, "empty", f"{filtered.num_notes} notes")
    if options.steps_per_quarter:
        filtered = quantise(filtered, options.steps_per_quarter)
    return filtered, report


def load_piece(
    path: str | Path, options: ReadOptions | None = None
) -> tuple[Score, MeterFilterReport]:
    """Read, filter and quantise one file."""
    return load_piece_bytes(read_file_bytes(path), options or ReadOptions(), path)


def load_piece_bytes(
    data: bytes, options: ReadOptions, path: str | Path = "<bytes>"
) -> tuple[Score, MeterFilterReport]:
    """Parse, filter and quantise the bytes of one file: the unit of work of the corpus
    pipeline. Notes are sorted once, by the quantisation, when there is one."""
    quantising = bool(options.steps_per_quarter)
    score = parse_midi_bytes(data, path, sort=not quantising, max_quarters=options.max_quarters)
    return prepare_score(score, options, path)


@dataclass
class ReadSummary:
    """What reading a folder produced: counts of files, skipped files by reason, notes."""

    files_found: int = 0
    files_read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    notes: int = 0
    seconds: float = 0.0
    dropped_seconds_by_meter: Counter[str] = field(default_factory=Counter)
    time_signatures: Counter[str] = field(default_factory=Counter)
    min_pitch: int = 127
    max_pitch: int = 0

    def add_piece(
        self, score: Score, report: MeterFilterReport, seconds: float | None = None
    ) -> None:
        """Count one piece; ``seconds`` is its duration when already known."""
        self.files_read += 1
        self.notes += score.num_notes
        self.seconds += score.seconds() if seconds is None else seconds
        for sig in score.time_signatures or (TimeSignature(0, 4, 4),):
            self.time_signatures[sig.label] += 1
        for label in report.dropped_signatures:
            self.dropped_seconds_by_meter[label] += 1
        if score.num_notes:
            self.min_pitch = min(self.min_pitch, int(score.notes["pitch"].min()))
            self.max_pitch = max(self.max_pitch, int(score.notes["pitch"].max()))

    def add_skip(self, error: MidiError) -> None:
        self.skipped[error.reason] += 1
        self.skipped_files.append((error.path, str(error)))


def iter_folder(
    folder: str | Path, options: ReadOptions | None = None, summary: ReadSummary | None = None
) -> Iterator[tuple[Path, Score]]:
    """Yield ``(path, piece)`` for every readable MIDI file under ``folder``, in order.

    Bad files, and the entries the folder scan passed over (see
    :func:`~cadenza.midifolder.scan_midi_folder`), are logged once each (warning) and
    counted in ``summary``; they never stop the iteration.
    """
    options = options or ReadOptions()
    scan = scan_midi_folder(folder)
    if summary is not None:
        summary.files_found += len(scan.files) + len(scan.skipped)
    for skipped in scan.skipped:
        log.warning("skipping %s", skipped)
        if summary is not None:
            summary.add_skip(skipped)
    for path in scan.files:
        try:
            score, report = load_piece(path, options)
        except MidiError as err:
            log.warning("skipping %s", err)
            if summary is not None:
                summary.add_skip(err)
            continue
        if summary is not None:
            summary.add_piece(score, report)
        yield path, score


def read_folder(
    folder: str | Path, options: ReadOptions | None = None
) -> tuple[list[Score], ReadSummary]:
    """Read every MIDI file under ``folder``; see :func:`iter_folder`."""
    summary = ReadSummary()
    scores = [score for _, score in iter_folder(folder, options, summary)]
    return scores, summary


# -- writing ---------------------------------------------------------------------------------
def to_symusic(score: Score, program: int | None = None) -> Any:
    """Convert a score to a one-track symusic score, played by ``program`` (General MIDI;
    default: the score's own, a piano unless set)."""
    return parts_to_symusic([score], programs=[score.program if program is None else program])


def parts_to_symusic(parts: Sequence[Score], programs: Sequence[int] | None = None) -> Any:
    """Convert scores to one symusic score of one track each (an ensemble's parts): each
    track named after its score and played by its program (``programs`` overrides them); the
    tempos, time signatures and markers are the first score's."""
    if not parts:
        raise ConfigError("no parts to write")
    programs = [p.program for p in parts] if programs is None else list(programs)
    first = parts[0]
    sm: Any = symusic.Score(first.ticks_per_quarter)
    for tempo in first.tempos or (Tempo(0, 120.0),):
        sm.tempos.append(symusic.Tempo(int(tempo.tick), qpm=float(tempo.qpm)))
    for sig in first.time_signatures:
        sm.time_signatures.append(
            symusic.TimeSignature(int(sig.tick), int(sig.numerator), int(sig.denominator))
        )
    for marker in first.markers:
        sm.markers.append(symusic.TextMeta(int(marker.tick), marker.text))
    for score, program in zip(parts, programs, strict=True):
        sm.tracks.append(_track(score, program))
    return sm


def _track(score: Score, program: int) -> Any:
    """One symusic track of ``score``'s notes, named after it."""
    # A name taken from a file name that is not valid UTF-8 holds surrogates, which the
    # MIDI library refuses: those bytes become U+FFFD.
    name = (score.name or "cadenza").encode("utf-8", "surrogateescape").decode("utf-8",
                                                                             "replace")
    track: Any = symusic.Track(name=name, program=program, is_drum=False)
    notes = score.notes
    if len(notes):
        track.notes.extend(
            symusic.Note.from_numpy(
                time=notes["start"].astype(np.int32),
                duration=notes["duration"].astype(np.int32),
                pitch=notes["pitch"].astype(np.int8),
                velocity=np.clip(notes["velocity"], 1, 127).astype(np.int8),
            )
        )
    return track


def midi_bytes(score: Score) -> bytes:
    """The standard MIDI file bytes of ``score``."""
    return _dump(to_symusic(score))


def parts_midi_bytes(parts: Sequence[Score]) -> bytes:
    """The standard MIDI file bytes of an ensemble's parts: one track per part, each with
    its own name and General MIDI program (see :func:`parts_to_symusic`)."""
    return _dump(parts_to_symusic(parts))


def _dump(sm: Any) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "score.mid"
        sm.dump_midi(out)
        return out.read_bytes()


def write_midi(score: Score, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``score`` to ``path`` atomically (temporary file, then rename).

    Raises:
        MidiError: ``path`` exists and ``overwrite`` is false, or it cannot be written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise MidiError(path, "exists", "refusing to overwrite; choose another name")
    write_bytes_atomic(path, midi_bytes(score))
    return path
