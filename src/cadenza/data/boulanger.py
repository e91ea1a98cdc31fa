"""The Boulanger-Lewandowski (2012) polyphonic benchmark sets: JSON, and the original pickles.

Each file holds ``{"train": [...], "valid": [...], "test": [...]}``; a piece is a list of
time steps and a step is a list of the MIDI pitches sounding in it. A pitch sounding in
consecutive steps becomes one held note (the format cannot tell a re-strike from a hold).
Pieces become quantised scores named ``"<split>-<index>"`` at ``steps_per_quarter``: one
step per quarter note for the JSB chorales, per eighth for Nottingham.

The original ``.pickle`` files are read with :class:`RestrictedUnpickler`, which refuses
every class or function reference, so a malicious file cannot run code. A pickle can also
repeat one piece or step by reference, any number of times, in two bytes each: a file of
400 KB can stand for 10**10 steps. So a file is read only up to :data:`MAX_BENCHMARK_BYTES`,
and while it is validated every piece and step is charged each time it is met (a shared one
is validated once); past :data:`MAX_BENCHMARK_CELLS` steps and pitches in all, or
:data:`MAX_PIECE_STEPS` steps in one piece, the file is refused before anything its size is
built. JSON has no shared references, so a JSON file's size already bounds what it holds.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from cadenza.errors import DataError, MidiError
from cadenza.midi import MAX_QUARTERS, read_file_bytes
from cadenza.score import NOTE_DTYPE, Score, Tempo, TimeSignature, sort_notes

BENCHMARK_SPLITS = ("train", "valid", "test")
JSON_SUFFIXES = (".json",)
PICKLE_SUFFIXES = (".pickle", ".pkl")
DEFAULT_VELOCITY = 80
MAX_BENCHMARK_BYTES = 64 * 1024 * 1024  # Nottingham, the largest of the four, is 3.7 MB
MAX_BENCHMARK_CELLS = 10_000_000  # steps + pitches in all; Nottingham has 1.3 million
MAX_PIECE_STEPS = 4 * MAX_QUARTERS  # the MIDI reader's length on a grid of 16ths


def default_steps_per_quarter(path: str | Path) -> int:
    """1 for files named like JSB, 2 for Nottingham, else 4 (16th notes)."""
    name = Path(path).name.lower()
    if "jsb" in name:
        return 1
    if "nottingham" in name:
        return 2
    return 4


def is_benchmark_file(path: str | Path) -> bool:
    """True for a file whose suffix is that of a benchmark set (``.json``, ``.pickle``)."""
    path = Path(path)
    return path.is_file() and path.suffix.lower() in JSON_SUFFIXES + PICKLE_SUFFIXES


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can build only built-in containers and numbers.

    Any reference to a class or function (how a pickle calls code) raises, so
    ``os.system`` and friends are never even looked up.
    """

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain data allowed")


def safe_unpickle(data: bytes, path: str | Path = "<bytes>") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; every failure is a DataError."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
            AttributeError, MemoryError, RecursionError) as exc:
        raise DataError(f"{path}: not a plain-data pickle ({exc})") from None


def read_benchmark_data(path: str | Path) -> dict[str, list[list[list[int]]]]:
    """The raw splits of a benchmark file (JSON or pickle), validated.

    Raises:
        DataError: the file is missing, unreadable, larger than :data:`MAX_BENCHMARK_BYTES`,
            not ``{split: [[[pitch]]]}``, or holds more than the limits of
            :func:`validate_benchmark`.
    """
    path = Path(path)
    try:
        raw = read_file_bytes(path, MAX_BENCHMARK_BYTES)  # a regular file, of bounded size
    except MidiError as exc:
        raise DataError(f"{path}: cannot read benchmark file ({exc.reason}: {exc.detail})"
                        ) from None
    if path.suffix.lower() in PICKLE_SUFFIXES:
        data = safe_unpickle(raw, path)
    else:
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None
    return validate_benchmark(data, path)


class _Checker:
    """Validates pieces while charging steps and pitches each time a piece is met, shared
    or not, so that repeated references cost what they would expand to. A piece or step
    met again is checked once and its checked copy shared."""

    def __init__(self, path: str | Path, max_cells: int) -> None:
        self.path = path
        self.max_cells = max_cells
        self.left = max_cells
        self.pieces: dict[int, list[list[int]]] = {}  # id of a piece met before -> copy
        self.steps: dict[int, list[int]] = {}  # likewise for steps

    def piece(self, piece: Any, where: str) -> list[list[int]]:
        if not isinstance(piece, list | tuple):
            raise DataError(f"{where}: a piece must be a list of steps, got "
                            f"{type(piece).__name__}")
        if len(piece) > MAX_PIECE_STEPS:
            raise DataError(f"{where}: {len(piece):,} steps, more than the "
                            f"{MAX_PIECE_STEPS:,} a piece may have")
        self.left -= len(piece) + sum(len(s) for s in piece if isinstance(s, list | tuple))
        if self.left < 0:
            raise DataError(
                f"{self.path}: more than {self.max_cells:,} steps and pitches in all (a "
                "pickle can repeat one piece or step by reference); refusing to expand it")
        if id(piece) not in self.pieces:
            self.pieces[id(piece)] = [self.step(step, f"{where}[{t}]")
                                      for t, step in enumerate(piece)]
        return self.pieces[id(piece)]

    def step(self, step: Any, where: str) -> list[int]:
        if id(step) in self.steps:
            return self.steps[id(step)]
        if not isinstance(step, list | tuple):
            raise DataError(f"{where}: a step must be a list of pitches, got "
                            f"{type(step).__name__}")
        for pitch in step:
            # bool is an int subclass; a float pitch such as 60.0 is accepted only if whole.
            if isinstance(pitch, bool) or not isinstance(pitch, int | float) \
                    or pitch != int(pitch) or not 0 <= pitch <= 127:
                raise DataError(f"{where}: pitch {pitch!r} is not a MIDI note 0..127")
        self.steps[id(step)] = checked = [int(p) for p in step]
        return checked


def validate_benchmark(
    data: Any, path: str | Path = "<data>", *, max_cells: int = MAX_BENCHMARK_CELLS,
) -> dict[str, list[list[list[int]]]]:
    """Check ``data`` is ``{split: [piece: [step: [pitch 0..127]]]}`` and normalise it.

    A piece or step met again (a shared reference of a pickle) is checked once and shared
    in the result, but charged every time against ``max_cells`` steps and pitches.

    Raises:
        DataError: the shape or a pitch is wrong, a piece has more than
            :data:`MAX_PIECE_STEPS` steps, or the whole more than ``max_cells``.
    """
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a dict of splits {BENCHMARK_SPLITS}, got "
                        f"{type(data).__name__}")
    unknown = [k for k in data if k not in BENCHMARK_SPLITS]
    if unknown:
        raise DataError(f"{path}: unknown split(s) {unknown!r}; expected {BENCHMARK_SPLITS}")
    checker = _Checker(path, max_cells)
    splits: dict[str, list[list[list[int]]]] = {}
    for split, pieces in data.items():
        if not isinstance(pieces, list | tuple):
            raise DataError(f"{path}: {split} must be a list of pieces, got "
                            f"{type(pieces).__name__}")
        splits[split] = [checker.piece(piece, f"{path}: {split}[{i}]")
                         for i, piece in enumerate(pieces)]
    return splits


def steps_to_score(steps: list[list[int]], steps_per_quarter: int, name: str = "") -> Score:
    """A quantised score from a list of steps of pitches; held pitches become one note."""
    if steps_per_quarter <= 0:
        raise DataError(f"steps_per_quarter must be positive, got {steps_per_quarter}")
    roll = np.zeros((len(steps) + 2, 128), dtype=np.int8)  # (T + 2, 128), silent at both ends
    for t, step in enumerate(steps):
        roll[t + 1, step] = 1
    change = np.diff(roll, axis=0).T  # (128, T + 1): +1 where a pitch starts, -1 where it ends
    on_pitch, on_step = np.nonzero(change == 1)  # ordered by pitch, then step
    _, off_step = np.nonzero(change == -1)  # the matching ends, in the same order
    notes = np.empty(len(on_step), dtype=NOTE_DTYPE)
    notes["start"] = on_step
    notes["duration"] = off_step - on_step
    notes["pitch"] = on_pitch
    notes["velocity"] = DEFAULT_VELOCITY
    return Score(
        notes=sort_notes(notes),
        ticks_per_quarter=steps_per_quarter,
        tempos=(Tempo(0, 120.0),),
        time_signatures=(TimeSignature(0, 4, 4),),
        name=name,
    )


def load_benchmark(
    path: str | Path, steps_per_quarter: int | None = None
) -> dict[str, list[Score]]:
    """Read a benchmark set into quantised scores per split (``"train"``, ``"valid"``, ...).

    ``steps_per_quarter`` defaults to :func:`default_steps_per_quarter` of the file name.
    Empty pieces (no pitch in any step) are kept as empty scores so indices match the file.
    """
    spq = steps_per_quarter or default_steps_per_quarter(path)
    return {
        split: [steps_to_score(steps, spq, f"{split}-{i}") for i, steps in enumerate(pieces)]
        for split, pieces in read_benchmark_data(path).items()
    }
