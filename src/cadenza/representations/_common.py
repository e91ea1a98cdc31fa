"""Small vectorised helpers shared by the representations (not part of the public API).

Times are in steps of a quantised score (one tick is one step); keys are column indices of a
keyboard axis (``pitch - low``).
"""

from __future__ import annotations

import numpy as np

from cadenza.errors import ConfigError, DataError
from cadenza.score import Score, Tempo, TimeSignature, make_notes

DECODED_VELOCITY = 80  # velocity of every note a representation decodes
DECODED_QPM = 120.0  # tempo of every decoded score


def check_int(
    owner: str, name: str, value: object, minimum: int, maximum: int | None = None
) -> None:
    """Raise ``ConfigError`` unless ``value`` is an int in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{owner}.{name} must be an int, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ConfigError(f"{owner}.{name} must be {bounds}, got {value!r}")


def check_pitch_range(owner: str, low: object, high: object) -> None:
    """Raise ``ConfigError`` unless ``0 <= low <= high <= 127``."""
    check_int(owner, "low", low, 0, 127)
    check_int(owner, "high", high, 0, 127)
    assert isinstance(low, int | np.integer) and isinstance(high, int | np.integer)
    if high < low:
        raise ConfigError(f"{owner}: high ({high}) must be >= low ({low})")


def notes_in_range(notes: np.ndarray, low: int, high: int) -> np.ndarray:
    """The notes of positive duration whose pitch lies in ``[low, high]``.

    Zero-length notes cannot be written in any step-based representation and are left out
    (a quantised score has none: quantisation makes every note at least one step long).
    """
    pitch = notes["pitch"]
    if len(notes) == 0 or (
        int(pitch.min()) >= low and int(pitch.max()) <= high and int(notes["duration"].min()) > 0
    ):
        return notes  # the usual case: nothing to drop, no copy
    return notes[(pitch >= low) & (pitch <= high) & (notes["duration"] > 0)]


def decoded_score(
    start: np.ndarray, duration: np.ndarray, pitch: np.ndarray, steps_per_quarter: int,
    velocity: np.ndarray | int = DECODED_VELOCITY,
) -> Score:
    """A quantised score of decoded notes: 120 qpm, 4/4, velocity 80 unless given."""
    return Score(
        notes=make_notes(start, duration, pitch, velocity),
        ticks_per_quarter=steps_per_quarter,
        tempos=(Tempo(0, DECODED_QPM),),
        time_signatures=(TimeSignature(0, 4, 4),),
    )


def spans_to_flat_indices(
    start: np.ndarray, duration: np.ndarray, offset: np.ndarray, row_stride: int
) -> np.ndarray:
    """Flat indices of every cell ``(start + i) * row_stride + offset``, ``0 <= i < duration``.

    Used to paint notes into a C-ordered (time, ...) array without a loop over notes.
    """
    duration = np.maximum(duration, 0)
    total = int(duration.sum())
    last_cell = (int(start.max()) + int(duration.max()) + 1) * row_stride if len(start) else 0
    # int32 halves the memory traffic; every index of a real piece fits.
    index = np.int32 if max(last_cell, total) < np.iinfo(np.int32).max else np.int64
    duration = duration.astype(index)
    first = start.astype(index) * row_stride + offset.astype(index)
    # Position of each cell within its note: 0, 1, ..., duration - 1.
    note_begin = np.cumsum(duration, dtype=index) - duration
    within = np.arange(total, dtype=index) - np.repeat(note_begin, duration)
    return np.repeat(first, duration) + within * row_stride


def notes_from_play(play: np.ndarray, onset: np.ndarray) -> tuple[np.ndarray, ...]:
    """Notes of a (T, K) boolean ``play`` matrix, split at the ``onset`` cells.

    A note begins at every cell where ``onset`` is true (it must also be playing) and lasts
    until the next onset of its column or the first silent cell, whichever comes first.

    Returns:
        ``(start, duration, key)`` int64 arrays, one entry per note.
    """
    num_steps, num_keys = play.shape
    width = num_steps + 1  # one silent cell appended to every column
    # (K, T + 1), so that flat order is column by column, in time order.
    boundary = np.ones((num_keys, width), dtype=bool)
    boundary[:, :num_steps] = (onset | ~play).T
    begins = np.zeros((num_keys, width), dtype=bool)
    begins[:, :num_steps] = (onset & play).T
    starts = np.flatnonzero(begins)
    stops = np.flatnonzero(boundary)
    ends = stops[np.searchsorted(stops, starts, side="right")]
    return starts % width, ends - starts, starts // width


def shift_axis(array: np.ndarray, semitones: int, axis: int) -> np.ndarray:
    """Copy of ``array`` moved ``semitones`` along ``axis``; what leaves is lost, zeros enter."""
    out = np.zeros_like(array)
    size = array.shape[axis]
    if abs(semitones) >= size:
        return out
    src = [slice(None)] * array.ndim
    dst = [slice(None)] * array.ndim
    if semitones >= 0:
        src[axis], dst[axis] = slice(0, size - semitones), slice(semitones, size)
    else:
        src[axis], dst[axis] = slice(-semitones, size), slice(0, size + semitones)
    out[tuple(dst)] = array[tuple(src)]
    return out


def nearest_index(values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of the nearest entry of the sorted 1-D ``values`` for each target (ties: lower)."""
    if len(values) == 0:
        raise DataError("cannot snap to an empty list of values")
    targets = np.asarray(targets)
    if len(values) == 1:
        return np.zeros(targets.shape, dtype=np.int64)
    midpoints = (values[1:] + values[:-1]) / 2.0
    return np.searchsorted(midpoints, targets, side="left").astype(np.int64)


def as_int_array(array: np.ndarray, owner: str) -> np.ndarray:
    """``array`` as int64, refusing non-integral floats."""
    array = np.asarray(array)
    if array.dtype.kind in "iub":
        return array.astype(np.int64)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        return array.astype(np.int64)
    raise DataError(f"{owner}: expected an integer array, got dtype {array.dtype}")
