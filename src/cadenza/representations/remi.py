"""Bar, position and note tokens (REMI-like) of the transformer family: one id per token.

A quantised score becomes one stream of tokens::

    BAR  POS_0  PITCH_48 VEL_5 DUR_8  PITCH_64 VEL_6 DUR_4  POS_8  PITCH_67 VEL_6 DUR_8  BAR ...

* ``BAR`` opens each bar of ``beats_per_bar`` quarter notes (empty bars keep their ``BAR``);
* ``POS_p`` moves to step ``p`` of the bar (``0 .. steps_per_bar - 1``), once per onset;
* every note starting there follows as ``PITCH``, then ``VEL`` (its velocity as one of
  ``velocity_bins`` bins of equal width over 1..127; left out when ``velocity_bins`` is 0),
  then ``DUR`` (steps, ``1 .. max_duration``); notes of one onset ascend by pitch;
* ``END`` closes the piece.

Encoded array: ``(L,)`` int32 token ids. Id layout (fixed, nothing is fitted): ``BAR`` 0,
``END`` 1, then the positions, the pitches ``low .. high``, the velocity bins and the
durations (:class:`TokenLayout`).

Limits: notes longer than ``max_duration`` steps are shortened; notes outside ``low .. high``
are dropped; bars are counted in 4/4-sized units of ``beats_per_bar`` quarters whatever the
score's time signature (cadenza's corpus keeps 4/4 music by default).

Decoding reads any id sequence: a note is written when a ``DUR`` follows a ``PITCH`` (with or
without a ``VEL`` between them); tokens out of that order are skipped, ``END`` stops the piece,
a position never moves time backwards within a bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cadenza.errors import DataError
from cadenza.representations._common import (
    DECODED_VELOCITY,
    as_int_array,
    check_int,
    check_pitch_range,
    decoded_score,
    notes_in_range,
)
from cadenza.representations.base import (
    PIANO_HIGH,
    PIANO_LOW,
    Representation,
    RepresentationConfig,
)
from cadenza.score import Score, remove_overlaps

__all__ = ["BAR", "END", "Remi", "RemiConfig", "TokenLayout"]

BAR, END = 0, 1


@dataclass(frozen=True)
class RemiConfig(RepresentationConfig):
    """Settings of :class:`Remi`.

    Attributes:
        steps_per_quarter: grid steps per quarter note (4 = 16th notes).
        beats_per_bar: quarter notes between two ``BAR`` tokens.
        low, high: MIDI pitch range kept (inclusive).
        velocity_bins: velocity tokens of equal width over 1..127 (0: no velocity tokens;
            decoded notes then get velocity 80).
        max_duration: longest duration in steps; longer notes are shortened.
    """

    steps_per_quarter: int = 4
    beats_per_bar: int = 4
    low: int = PIANO_LOW
    high: int = PIANO_HIGH
    velocity_bins: int = 8
    max_duration: int = 32

    def __post_init__(self) -> None:
        check_int("RemiConfig", "steps_per_quarter", self.steps_per_quarter, 1, 96)
        check_int("RemiConfig", "beats_per_bar", self.beats_per_bar, 1, 16)
        check_pitch_range("RemiConfig", self.low, self.high)
        check_int("RemiConfig", "velocity_bins", self.velocity_bins, 0, 127)
        check_int("RemiConfig", "max_duration", self.max_duration, 1, 4096)
        super().__post_init__()

    @property
    def steps_per_bar(self) -> int:
        return self.steps_per_quarter * self.beats_per_bar


@dataclass(frozen=True)
class TokenLayout:
    """Where each kind of token lies among the ids: ``[first, first + count)`` each."""

    position: int
    positions: int
    pitch: int
    pitches: int
    velocity: int
    velocities: int
    duration: int
    durations: int

    @classmethod
    def of(cls, config: RemiConfig) -> TokenLayout:
        position = 2
        pitch = position + config.steps_per_bar
        pitches = config.high - config.low + 1
        velocity = pitch + pitches
        duration = velocity + config.velocity_bins
        return cls(position, config.steps_per_bar, pitch, pitches, velocity,
                   config.velocity_bins, duration, config.max_duration)

    @property
    def size(self) -> int:
        """Number of distinct token ids."""
        return self.duration + self.durations

    def kinds(self) -> np.ndarray:
        """(size,) int8 kind of every id: 0 BAR, 1 END, 2 POS, 3 PITCH, 4 VEL, 5 DUR."""
        kind = np.empty(self.size, dtype=np.int8)
        kind[BAR], kind[END] = 0, 1
        kind[self.position:self.pitch] = 2
        kind[self.pitch:self.velocity] = 3
        kind[self.velocity:self.duration] = 4
        kind[self.duration:] = 5
        return kind


KIND_BAR, KIND_END, KIND_POS, KIND_PITCH, KIND_VEL, KIND_DUR = range(6)


class Remi(Representation):
    """``(L,)`` int32 token ids; see the module docstring."""

    name: ClassVar[str] = "remi"
    config_class: ClassVar[type[RepresentationConfig]] = RemiConfig
    config: RemiConfig

    def __init__(self, config: RemiConfig | None = None) -> None:
        super().__init__(config)
        self.layout = TokenLayout.of(self.config)
        self._kinds = self.layout.kinds()

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return ()

    @property
    def vocab_size(self) -> int:
        return self.layout.size

    def kinds(self, tokens: np.ndarray) -> np.ndarray:
        """Kind (``KIND_*``) of every id of ``tokens``; ids out of range raise."""
        tokens = np.asarray(tokens)
        if len(tokens) and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            bad = tokens[(tokens < 0) | (tokens >= self.vocab_size)][0]
            raise DataError(f"remi: token id {int(bad)} outside 0..{self.vocab_size - 1}")
        return self._kinds[tokens]

    # -- velocities ----------------------------------------------------------------------
    def velocity_bin(self, velocity: np.ndarray) -> np.ndarray:
        """MIDI velocities 1..127 -> bins 0..velocity_bins-1."""
        bins = self.config.velocity_bins
        v = np.clip(np.asarray(velocity, dtype=np.int64), 1, 127)
        return np.minimum((v - 1) * bins // 127, bins - 1)

    def bin_velocity(self, index: np.ndarray) -> np.ndarray:
        """Bins 0..velocity_bins-1 -> the middle MIDI velocity of each."""
        bins = self.config.velocity_bins
        b = np.asarray(index, dtype=np.int64)
        low = -(-b * 127 // bins) + 1  # first velocity of the bin (ceil division)
        high = -(-(b + 1) * 127 // bins)
        return (low + high) // 2

    # -- encoding ------------------------------------------------------------------------
    def encode(self, score: Score) -> np.ndarray:
        """``(L,)`` int32 token ids of a quantised score, ``BAR`` first, ``END`` last (an empty
        score encodes to no token at all)."""
        self.check_quantised(score)
        cfg, lay = self.config, self.layout
        notes = notes_in_range(score.notes, cfg.low, cfg.high)
        notes = notes[np.lexsort((notes["pitch"], notes["start"]))]
        spb = cfg.steps_per_bar
        start = notes["start"].astype(np.int64)
        bar, position = np.divmod(start, spb)
        count = len(notes)
        if count == 0:
            return np.zeros(0, dtype=np.int32)  # no music, no tokens (not even END)
        bars = int(bar[-1]) + 1
        per_note = 3 if cfg.velocity_bins else 2
        new_onset = np.ones(count, dtype=bool)
        new_onset[1:] = start[1:] != start[:-1]
        # Each note brings its PITCH [VEL] DUR tokens, plus a POS token when it opens an onset;
        # each bar brings one BAR token in front of its first note's POS.
        note_tokens = np.empty((count, per_note), dtype=np.int64)
        note_tokens[:, 0] = lay.pitch + notes["pitch"].astype(np.int64) - cfg.low
        if cfg.velocity_bins:
            note_tokens[:, 1] = lay.velocity + self.velocity_bin(notes["velocity"])
        duration = np.clip(notes["duration"].astype(np.int64), 1, cfg.max_duration)
        note_tokens[:, -1] = lay.duration + duration - 1
        # Bars before each note (BAR tokens that precede it) and POS tokens up to it.
        bars_through = bar + 1  # BAR tokens written up to and including the note's bar
        positions_through = np.cumsum(new_onset)
        note_index = np.arange(count)
        first = bars_through + positions_through + note_index * per_note  # PITCH token index
        total = bars + int(positions_through[-1]) + count * per_note + 1
        out = np.full(total, -1, dtype=np.int64)
        for column in range(per_note):
            out[first + column] = note_tokens[:, column]
        out[(first - 1)[new_onset]] = lay.position + position[new_onset]
        out[-1] = END
        # Every remaining hole is a BAR token: bar k's BAR sits just before its first token.
        out[out < 0] = BAR
        return out.astype(np.int32)

    def decode(self, array: np.ndarray) -> Score:
        """Notes of a token sequence (see the module docstring for what is skipped)."""
        self.check_array(array)
        tokens = as_int_array(array, self.name)
        kinds = self.kinds(tokens)
        cfg, lay = self.config, self.layout
        starts: list[int] = []
        durations: list[int] = []
        pitches: list[int] = []
        velocities: list[int] = []
        bar, position = -1, 0
        pitch = velocity = -1
        for token, kind in zip(tokens.tolist(), kinds.tolist(), strict=True):
            if kind == KIND_END:
                break
            if kind == KIND_BAR:
                bar, position, pitch = bar + 1, 0, -1
            elif kind == KIND_POS:
                position, pitch = max(position, token - lay.position), -1
            elif kind == KIND_PITCH:
                pitch, velocity = token - lay.pitch + cfg.low, -1
            elif kind == KIND_VEL:
                velocity = token - lay.velocity if pitch >= 0 else -1
            elif kind == KIND_DUR and pitch >= 0:
                starts.append(max(bar, 0) * cfg.steps_per_bar + position)
                durations.append(token - lay.duration + 1)
                pitches.append(pitch)
                velocities.append(int(self.bin_velocity(np.array(velocity)))
                                  if velocity >= 0 and cfg.velocity_bins else DECODED_VELOCITY)
                pitch = -1
        score = decoded_score(np.array(starts, np.int64), np.array(durations, np.int64),
                              np.array(pitches, np.int64), cfg.steps_per_quarter,
                              np.array(velocities, np.int64))
        return score.copy_with(notes=remove_overlaps(score.notes))

    # -- time ----------------------------------------------------------------------------
    def onset_ticks(self, array: np.ndarray) -> np.ndarray:
        """(L,) tick at which every token lies: its bar's start plus the last position."""
        tokens = as_int_array(array, self.name)
        kinds = self.kinds(tokens)
        is_bar = kinds == KIND_BAR
        bar = np.maximum(np.cumsum(is_bar) - 1, 0)
        # The position in force: the last POS since the last BAR (0 right after a BAR).
        marks = np.where(kinds == KIND_POS, tokens - self.layout.position, -1)
        marks = np.where(is_bar, 0, marks)
        index = np.where(marks >= 0, np.arange(len(tokens)), -1)
        last = np.maximum.accumulate(index) if len(tokens) else index
        position = np.where(last >= 0, marks[np.maximum(last, 0)], 0)
        return bar * self.config.steps_per_bar + position

    def onset_tick(self, array: np.ndarray, index: int) -> int:
        """Tick of token ``index`` (the end of the piece for ``index >= len(array)``)."""
        if len(array) == 0:
            return 0
        ticks = self.onset_ticks(np.asarray(array)[: index + 1])
        return int(ticks[-1])

    def transpose_array(self, array: np.ndarray, semitones: int) -> np.ndarray:
        """Tokens with every pitch moved ``semitones``; a note leaving ``low .. high`` is
        dropped with its velocity and duration tokens (its onset's POS stays)."""
        self.check_array(array)
        tokens = as_int_array(array, self.name)
        kinds = self.kinds(tokens)
        lay = self.layout
        out = tokens.copy()
        is_pitch = kinds == KIND_PITCH
        moved = tokens[is_pitch] - lay.pitch + int(semitones)
        out[is_pitch] = moved + lay.pitch
        bad_at = np.flatnonzero(is_pitch)[(moved < 0) | (moved >= lay.pitches)]
        if len(bad_at):
            drop = np.zeros(len(tokens), dtype=bool)
            width = 3 if self.config.velocity_bins else 2
            for offset in range(width):  # the note's PITCH [VEL] DUR
                at = bad_at + offset
                drop[at[at < len(tokens)]] = True
            out = out[~drop]
        return out.astype(np.asarray(array).dtype, copy=False)

    def check_array(self, array: np.ndarray) -> None:
        if np.asarray(array).ndim != 1:
            raise DataError(f"remi: expected an array of shape (N,) (token ids), got shape "
                            f"{np.asarray(array).shape}")
