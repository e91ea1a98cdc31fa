"""Note and chord tokens in the music21 style: ``(element, duration, shift)`` per token.

A token is

* ``element``: ``"rest"``, one note as its MIDI number (``"60"``) or a chord as its sorted
  MIDI numbers joined by dots (``"60.64.67"``);
* ``duration``: how long its notes last, in steps (capped at ``max_duration``);
* ``shift``: steps from this token's onset to the next token's onset (0 = same onset; capped
  at ``max_shift``).

Tokenising a quantised score: notes are capped at ``max_duration`` and grouped by onset; the
notes of one onset with the same duration form one note or chord token, tokens of an onset
ordered by duration. Every token of an onset has shift 0 except the last, whose shift reaches
the next onset, unless nothing sounds for a while before it: then the shift stops where the
silence begins and a ``"rest"`` token follows whose duration and shift are the silence's
length. A piece starting with silence begins with such a rest. The last token of the piece has
as shift the time from its onset to the end of everything sounding (so a decoded piece ends
where the original does).

Encoded array: ``(L, 3)`` int32 of ids ``[element_id, duration_id, shift_id]`` into the
vocabulary learnt by :meth:`NoteTokens.fit`: elements (``0 = "<unk>"``, ``1 = "rest"``, then
note/chord elements by descending frequency, ties by string), and the sorted duration and
shift values seen. Unknown elements encode as ``<unk>`` and decode to nothing (time still
advances); durations and shifts snap to the nearest known value.

Limits: notes longer than ``max_duration`` are shortened; gaps longer than ``max_shift`` are
shortened, which moves every later note earlier; a vocabulary fitted without transposed
pieces maps many transposed chords to ``<unk>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain, pairwise
from typing import Any, ClassVar

import numpy as np

from cadenza.errors import ConfigError, DataError
from cadenza.representations._common import (
    as_int_array,
    check_int,
    decoded_score,
    nearest_index,
)
from cadenza.representations.base import Representation, RepresentationConfig
from cadenza.score import Score, remove_overlaps

__all__ = [
    "REST",
    "REST_ID",
    "UNKNOWN",
    "UNKNOWN_ID",
    "NoteTokens",
    "NoteTokensConfig",
    "element_pitches",
]

UNKNOWN = "<unk>"
REST = "rest"
UNKNOWN_ID, REST_ID = 0, 1
ELEMENT, DURATION, SHIFT = 0, 1, 2  # column indices
_KEY = np.dtype((np.void, 16))  # a set of MIDI pitches as a 128-bit mask


@dataclass(frozen=True)
class NoteTokensConfig(RepresentationConfig):
    """Settings of :class:`NoteTokens`.

    Attributes:
        steps_per_quarter: steps per quarter note of durations and shifts.
        max_duration: longest duration in steps; longer notes are shortened.
        max_shift: longest shift in steps; longer gaps are shortened.
        max_elements: most note/chord elements kept by :meth:`NoteTokens.fit`, not counting
            ``<unk>`` and ``rest`` (0 = no limit).
        min_count: an element seen fewer times in training becomes ``<unk>``.
    """

    steps_per_quarter: int = 4
    max_duration: int = 64
    max_shift: int = 64
    max_elements: int = 0
    min_count: int = 1

    def __post_init__(self) -> None:
        check_int("NoteTokensConfig", "steps_per_quarter", self.steps_per_quarter, 1)
        check_int("NoteTokensConfig", "max_duration", self.max_duration, 1)
        check_int("NoteTokensConfig", "max_shift", self.max_shift, 1)
        check_int("NoteTokensConfig", "max_elements", self.max_elements, 0)
        check_int("NoteTokensConfig", "min_count", self.min_count, 1)
        super().__post_init__()


@dataclass(frozen=True)
class _Tokens:
    """Tokens of one score before vocabulary lookup: keys (L,) void16, durations, shifts (L,)."""

    keys: np.ndarray
    durations: np.ndarray
    shifts: np.ndarray


def element_pitches(element: str) -> list[int]:
    """MIDI pitches of a note/chord element string (``"60.64.67"`` -> ``[60, 64, 67]``)."""
    if not isinstance(element, str):
        raise ConfigError(f"note token element {element!r} is not a string")
    try:
        pitches = [int(part) for part in element.split(".")]
    except ValueError:
        raise ConfigError(
            f"note token element {element!r} is not MIDI numbers joined by dots"
        ) from None
    if min(pitches) < 0 or max(pitches) > 127 or pitches != sorted(set(pitches)):
        raise ConfigError(
            f"note token element {element!r} must list distinct ascending pitches 0..127"
        )
    return pitches


def _masks(pitch: np.ndarray) -> np.ndarray:
    """(n, 2) uint64 one-bit masks of pitches 0..127 (word 0: 0..63, word 1: 64..127)."""
    pitch = pitch.astype(np.uint64)
    masks = np.zeros((len(pitch), 2), dtype=np.uint64)
    low = pitch < 64
    masks[low, 0] = np.left_shift(np.uint64(1), pitch[low])
    masks[~low, 1] = np.left_shift(np.uint64(1), pitch[~low] - np.uint64(64))
    return masks


def _as_keys(masks: np.ndarray) -> np.ndarray:
    """(n, 2) uint64 masks as (n,) 16-byte keys (comparable, sortable, hashable by np.unique)."""
    return np.ascontiguousarray(masks, dtype=np.uint64).view(_KEY).reshape(-1)


def _keys_of(pitch_lists: list[list[int]]) -> np.ndarray:
    """(n,) keys of n non-empty lists of distinct pitches."""
    sizes = np.array([len(p) for p in pitch_lists], dtype=np.int64)
    if len(sizes) == 0:
        return np.zeros(0, dtype=_KEY)
    flat = np.fromiter(chain.from_iterable(pitch_lists), dtype=np.int64, count=int(sizes.sum()))
    return _as_keys(np.bitwise_or.reduceat(_masks(flat), np.cumsum(sizes) - sizes, axis=0))


def _elements_of(keys: np.ndarray) -> list[str]:
    """Element strings (``"60.64.67"``) of (n,) non-empty keys."""
    masks = np.ascontiguousarray(keys).view(np.uint64).reshape(-1, 2).astype("<u8")
    bytes_ = masks.view(np.uint8).reshape(len(keys), 16)
    bits = np.unpackbits(bytes_, axis=1, bitorder="little")  # (n, 128): bit p = pitch p
    rows, pitches = np.nonzero(bits)
    flat = pitches.tolist()
    edges = [0, *np.searchsorted(rows, np.arange(1, len(keys))).tolist(), len(flat)]
    return [".".join(map(str, flat[lo:hi])) for lo, hi in pairwise(edges)]


_REST_KEY = _as_keys(np.zeros((1, 2), dtype=np.uint64))[0]  # the empty pitch set


def _tokenise(score: Score, cfg: NoteTokensConfig) -> _Tokens:
    """Tokens of ``score`` with element keys and raw (capped, unsnapped) step counts."""
    notes = score.notes[score.notes["duration"] > 0]
    if len(notes) and (notes["pitch"].min() < 0 or notes["pitch"].max() > 127):
        raise DataError(f"notetokens: score {score.name!r} has pitches outside 0..127")
    if len(notes) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Tokens(np.zeros(0, dtype=_KEY), empty, empty)
    start = notes["start"].astype(np.int64)
    duration = np.minimum(notes["duration"].astype(np.int64), cfg.max_duration)
    order = np.lexsort((notes["pitch"], duration, start))
    start, duration, pitch = start[order], duration[order], notes["pitch"][order]
    # One token per (onset, duration): its key is the OR of its notes' pitch masks.
    new_token = np.ones(len(start), dtype=bool)
    new_token[1:] = (start[1:] != start[:-1]) | (duration[1:] != duration[:-1])
    token_first = np.flatnonzero(new_token)
    keys = _as_keys(np.bitwise_or.reduceat(_masks(pitch), token_first, axis=0))
    tok_start, tok_duration = start[token_first], duration[token_first]
    # Onset groups: the last token of each gets the shift to what follows.
    last_of_onset = np.ones(len(token_first), dtype=bool)
    last_of_onset[:-1] = tok_start[1:] != tok_start[:-1]
    onsets = tok_start[last_of_onset]
    sounding_until = np.maximum.accumulate(
        np.maximum.reduceat(
            tok_start + tok_duration, np.flatnonzero(np.r_[True, last_of_onset[:-1]])
        )
    )
    next_onset = np.r_[onsets[1:], sounding_until[-1]]
    silence_from = np.minimum(sounding_until, next_onset)
    shifts = np.zeros(len(token_first), dtype=np.int64)
    shifts[last_of_onset] = silence_from - onsets
    # Rests: after onset group k when it falls silent before the next onset, and first of
    # all when the piece starts late.
    rest_length = next_onset - silence_from
    has_rest = rest_length > 0
    group_end = np.flatnonzero(last_of_onset) + 1  # insertion point after each group
    positions = np.r_[[0] if onsets[0] > 0 else [], group_end[has_rest]].astype(np.int64)
    lengths = np.r_[[onsets[0]] if onsets[0] > 0 else [], rest_length[has_rest]].astype(
        np.int64
    )
    keys = np.insert(keys, positions, _REST_KEY)
    durations = np.insert(tok_duration, positions, np.minimum(lengths, cfg.max_duration))
    shifts = np.insert(shifts, positions, lengths)
    return _Tokens(keys, durations, np.minimum(shifts, cfg.max_shift))


class NoteTokens(Representation):
    """``(L, 3)`` int32 token ids; see the module docstring. Needs :meth:`fit` before use."""

    name: ClassVar[str] = "notetokens"
    config_class: ClassVar[type[RepresentationConfig]] = NoteTokensConfig
    config: NoteTokensConfig

    def __init__(self, config: NoteTokensConfig | None = None) -> None:
        super().__init__(config)
        self._elements: list[str] | None = None
        self._durations = np.zeros(0, dtype=np.int64)
        self._shifts = np.zeros(0, dtype=np.int64)
        self._sorted_keys = np.zeros(0, dtype=_KEY)  # vocabulary keys, sorted
        self._sorted_ids = np.zeros(0, dtype=np.int64)  # element id of each sorted key
        self._pitch_flat = np.zeros(0, dtype=np.int64)  # pitches of every element, in id order
        self._pitch_begin = np.zeros(0, dtype=np.int64)  # where each element's pitches begin
        self._pitch_count = np.zeros(0, dtype=np.int64)  # how many pitches each element has
        self._transpose_tables: dict[int, np.ndarray] = {}

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (3,)

    # -- vocabulary ------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self._elements is not None

    def _require_fitted(self) -> list[str]:
        if self._elements is None:
            raise DataError("notetokens: the vocabulary is empty; call fit() first")
        return self._elements

    @property
    def elements(self) -> tuple[str, ...]:
        """Element strings by id (empty before :meth:`fit`)."""
        return tuple(self._elements or ())

    @property
    def duration_values(self) -> tuple[int, ...]:
        """Known durations in steps, ascending (empty before :meth:`fit`)."""
        return tuple(int(v) for v in self._durations)

    @property
    def shift_values(self) -> tuple[int, ...]:
        """Known shifts in steps, ascending, starting at 0 (empty before :meth:`fit`)."""
        return tuple(int(v) for v in self._shifts)

    @property
    def num_elements(self) -> int:
        """Size of the element vocabulary, ``<unk>`` and ``rest`` included (0 before fit)."""
        return len(self._elements or ())

    @property
    def num_durations(self) -> int:
        return len(self._durations)

    @property
    def num_shifts(self) -> int:
        return len(self._shifts)

    def fit(self, scores: Iterable[Score]) -> None:
        """Learn elements, durations and shifts from ``scores`` (replaces any vocabulary)."""
        keys, durations, shifts = [], [np.zeros(0, np.int64)], [np.zeros(1, np.int64)]
        count = 0
        for score in scores:
            self.check_quantised(score)
            tokens = _tokenise(score, self.config)
            keys.append(tokens.keys)
            durations.append(np.unique(tokens.durations))
            shifts.append(np.unique(tokens.shifts))
            count += 1
        if count == 0:
            raise DataError("notetokens: fit() needs at least one score")
        if sum(len(d) for d in durations) == 0:
            raise DataError("notetokens: fit() found no notes in the scores")
        all_keys = np.concatenate(keys) if keys else np.zeros(0, dtype=_KEY)
        all_keys = all_keys[all_keys != _REST_KEY]
        unique, counts = np.unique(all_keys, return_counts=True)
        frequent = counts >= self.config.min_count
        ranked = sorted(
            zip(counts[frequent].tolist(), _elements_of(unique[frequent]), strict=True),
            key=lambda item: (-item[0], item[1]),
        )
        if self.config.max_elements:
            ranked = ranked[: self.config.max_elements]
        self.load_vocabulary(
            {
                "elements": [UNKNOWN, REST] + [element for _, element in ranked],
                "durations": np.unique(np.concatenate(durations)).tolist(),
                "shifts": np.unique(np.concatenate(shifts)).tolist(),
            }
        )

    def vocabulary(self) -> dict[str, Any]:
        if self._elements is None:
            return {}
        return {
            "elements": list(self._elements),
            "durations": self._durations.tolist(),
            "shifts": self._shifts.tolist(),
        }

    def load_vocabulary(self, vocab: dict[str, Any]) -> None:
        """Restore a vocabulary (``{}`` clears it). Raises ``ConfigError`` when malformed."""
        self._transpose_tables = {}
        if not vocab:
            self._elements = None
            self._durations = np.zeros(0, dtype=np.int64)
            self._shifts = np.zeros(0, dtype=np.int64)
            return
        elements = vocab.get("elements")
        if not isinstance(elements, list) or elements[:2] != [UNKNOWN, REST]:
            raise ConfigError(
                f"notetokens vocabulary: elements must start with {UNKNOWN!r}, {REST!r}; "
                f"got {str(elements)[:80]}"
            )
        if len(set(elements)) != len(elements):
            raise ConfigError("notetokens vocabulary: elements are not unique")
        durations = _value_list(vocab.get("durations"), "durations", minimum=1)
        shifts = _value_list(vocab.get("shifts"), "shifts", minimum=0)
        if shifts[0] != 0:
            raise ConfigError(f"notetokens vocabulary: shifts must include 0, got {shifts[:5]}...")
        pitches = [element_pitches(e) for e in elements[2:]]
        keys = np.concatenate([_REST_KEY[None], _keys_of(pitches)])
        if len(np.unique(keys)) != len(keys):
            raise ConfigError("notetokens vocabulary: two elements name the same pitches")
        order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[order]
        self._sorted_ids = order.astype(np.int64) + 1  # keys start at element id 1 (rest)
        sizes = np.array([0, 0] + [len(p) for p in pitches], dtype=np.int64)
        self._pitch_count = sizes
        self._pitch_begin = np.cumsum(sizes) - sizes
        self._pitch_flat = np.array([p for group in pitches for p in group], dtype=np.int64)
        self._durations = durations
        self._shifts = shifts
        self._elements = list(elements)

    # -- encoding --------------------------------------------------------------------------
    def encode(self, score: Score) -> np.ndarray:
        """``(L, 3)`` int32 ids ``[element, duration, shift]`` of a quantised score."""
        self.check_quantised(score)
        self._require_fitted()
        tokens = _tokenise(score, self.config)
        ids = np.empty((len(tokens.keys), 3), dtype=np.int32)  # (L, 3)
        ids[:, ELEMENT] = self._element_ids(tokens.keys)
        ids[:, DURATION] = nearest_index(self._durations, tokens.durations)
        ids[:, SHIFT] = nearest_index(self._shifts, tokens.shifts)
        return ids

    def _element_ids(self, keys: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self._sorted_keys, keys)
        at = np.minimum(at, len(self._sorted_keys) - 1)
        found = self._sorted_keys[at] == keys
        return np.where(found, self._sorted_ids[at], UNKNOWN_ID)

    def decode(self, array: np.ndarray) -> Score:
        """Notes of a token-id array, velocity 80 (``<unk>`` and ``rest`` add no notes)."""
        self.check_array(array)
        self._require_fitted()
        ids = as_int_array(array, self.name)
        element, duration_id, shift_id = ids[:, ELEMENT], ids[:, DURATION], ids[:, SHIFT]
        for column, values, size in (
            ("element", element, self.num_elements),
            ("duration", duration_id, self.num_durations),
            ("shift", shift_id, self.num_shifts),
        ):
            if len(values) and (values.min() < 0 or values.max() >= size):
                raise DataError(f"notetokens: {column} id outside 0..{size - 1} in decode input")
        shift = self._shifts[shift_id]
        onset = np.cumsum(shift) - shift  # (L,) onset of every token
        count = self._pitch_count[element]
        token = np.repeat(np.arange(len(element)), count)  # token of every decoded note
        within = np.arange(len(token)) - np.repeat(np.cumsum(count) - count, count)
        pitch = self._pitch_flat[self._pitch_begin[element][token] + within]
        score = decoded_score(
            onset[token], self._durations[duration_id][token], pitch, self.config.steps_per_quarter
        )
        return score.copy_with(notes=remove_overlaps(score.notes))

    def onset_tick(self, array: np.ndarray, index: int) -> int:
        """Onset of token ``index``: the sum of the shifts of the tokens before it."""
        self._require_fitted()
        shift_ids = np.asarray(array)[:index, SHIFT]
        return int(self._shifts[shift_ids].sum())

    def transpose_array(self, array: np.ndarray, semitones: int) -> np.ndarray:
        """Token ids with every element moved ``semitones``; durations and shifts unchanged.

        Pitches leaving 0..127 are dropped from their chord; an element not in the vocabulary
        after moving (or left with no pitch) becomes ``<unk>``.
        """
        self.check_array(array)
        ids = as_int_array(array, self.name)
        table = self._transpose_table(int(semitones))
        element = ids[:, ELEMENT]
        if len(element) and (element.min() < 0 or element.max() >= len(table)):
            raise DataError(f"notetokens: element id outside 0..{len(table) - 1}")
        out = ids.copy()
        out[:, ELEMENT] = table[element]
        return out.astype(np.asarray(array).dtype, copy=False)

    def _transpose_table(self, semitones: int) -> np.ndarray:
        """Element id -> id of the element moved by ``semitones`` (cached)."""
        elements = self._require_fitted()
        if semitones not in self._transpose_tables:
            table = np.arange(len(elements), dtype=np.int64)
            if semitones:
                moved = self._pitch_flat + semitones
                inside = (moved >= 0) & (moved <= 127)
                owner = np.repeat(np.arange(len(elements)), self._pitch_count)
                masks = np.zeros((len(elements), 2), dtype=np.uint64)
                np.bitwise_or.at(masks, owner[inside], _masks(moved[inside]))
                table[2:] = self._element_ids(_as_keys(masks[2:]))
                table[2:][np.all(masks[2:] == 0, axis=1)] = UNKNOWN_ID
            self._transpose_tables[semitones] = table
        return self._transpose_tables[semitones]


def _value_list(values: object, label: str, minimum: int) -> np.ndarray:
    """Validate a strictly ascending list of ints >= ``minimum`` from a vocabulary."""
    if (
        not isinstance(values, list)
        or not values
        or any(isinstance(v, bool) or not isinstance(v, int) for v in values)
    ):
        raise ConfigError(f"notetokens vocabulary: {label} must be a non-empty list of ints")
    array = np.asarray(values, dtype=np.int64)
    if array[0] < minimum or np.any(np.diff(array) <= 0):
        raise ConfigError(
            f"notetokens vocabulary: {label} must ascend strictly from at least {minimum}"
        )
    return array
