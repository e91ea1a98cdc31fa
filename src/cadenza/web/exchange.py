"""Playing along: a phrase played on the page, answered by a model.

The page sends the whole *exchange* so far (``POST /api/answer``): every note played and
every note answered, on a grid of 16ths counted from the exchange's first bar line, with its
tempo. The exchange is the primer: the model hears its last ``context_bars`` bars (each bar
of primer costs about as much to walk as a bar of answer, so the window bounds the wait) and
continues from the bar line where the phrase ends, for ``bars`` bars. The answer's notes come
back on the same grid; the exchange with its answer is kept (:class:`ExchangeStore`) for its
MIDI and MusicXML downloads.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cadenza.composing import ComposeRequest, ComposeResult, played_primer
from cadenza.errors import ConfigError
from cadenza.generation.base import MAX_TEMPERATURE, MIN_TEMPERATURE
from cadenza.score import Marker, Score, Tempo, TimeSignature, make_notes
from cadenza.web.requests import MAX_SEED

STEPS_PER_QUARTER = 4  # the exchange's grid: 16ths
STEPS_PER_BAR = 4 * STEPS_PER_QUARTER  # 4/4
MAX_EXCHANGE_BARS = 256
MAX_EXCHANGE_STEPS = MAX_EXCHANGE_BARS * STEPS_PER_BAR
MAX_EXCHANGE_NOTES = 1024  # about 50 KB of JSON: the 64 KiB body cap holds it
MAX_NOTE_STEPS = 16 * STEPS_PER_BAR  # a note held 16 bars
MAX_ANSWER_BARS = 8
MAX_CONTEXT_BARS = 16
DEFAULT_CONTEXT_BARS = 4
ANSWER_MARKER = "cadenza answers"


class PlayedNote(BaseModel):
    """One note of the exchange: ``start`` and ``length`` in 16ths from its first bar line."""

    model_config = ConfigDict(extra="forbid", strict=True)

    pitch: int = Field(ge=0, le=127)
    start: int = Field(ge=0, lt=MAX_EXCHANGE_STEPS)
    length: int = Field(ge=1, le=MAX_NOTE_STEPS)
    velocity: int = Field(default=80, ge=1, le=127)


class ExchangeIn(BaseModel):
    """The body of ``POST /api/answer``; strict types, like a composition's."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(min_length=1, max_length=300)
    notes: list[PlayedNote] = Field(min_length=1, max_length=MAX_EXCHANGE_NOTES)
    bpm: float = Field(default=120.0, ge=30, le=300, allow_inf_nan=False)
    bars: int = Field(default=2, ge=1, le=MAX_ANSWER_BARS)
    # the 16th where the phrase ends and the answer begins (a bar line); None: the bar line
    # after the last note's end
    end: int | None = Field(default=None, ge=STEPS_PER_BAR, le=MAX_EXCHANGE_STEPS)
    context_bars: int = Field(default=DEFAULT_CONTEXT_BARS, ge=1, le=MAX_CONTEXT_BARS)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    temperature: float | None = Field(default=None, ge=MIN_TEMPERATURE, le=MAX_TEMPERATURE,
                                      allow_inf_nan=False)


class ExchangeProblem(ValueError):
    """A field of the exchange is wrong: ``field`` names it, the message says how."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Exchange:
    """A checked exchange: its notes (``NOTE_DTYPE``, times in 16ths), where the phrase
    ends (a bar line) and its tempo."""

    notes: np.ndarray
    end: int
    bpm: float


def check_exchange(body: ExchangeIn, max_minutes: float | None = None) -> Exchange:
    """The exchange ``body`` sends, checked beyond its field types.

    Raises:
        ExchangeProblem: the phrase's end is not a bar line or lies before a note; the answer
            would take the exchange past :data:`MAX_EXCHANGE_BARS` bars, or past
            ``max_minutes`` at its tempo (the server's ``--max-minutes``).
    """
    last = max(note.start + note.length for note in body.notes)
    end = body.end if body.end is not None else -(-last // STEPS_PER_BAR) * STEPS_PER_BAR
    if end % STEPS_PER_BAR:
        raise ExchangeProblem("end", f"must be a bar line (a multiple of {STEPS_PER_BAR} "
                                     f"16ths), got {end}")
    for index, note in enumerate(body.notes):
        if note.start >= end:
            raise ExchangeProblem(f"notes.{index}.start",
                                  f"{note.start} is at or after the phrase's end ({end})")
    if end + body.bars * STEPS_PER_BAR > MAX_EXCHANGE_STEPS:
        raise ExchangeProblem("bars", f"the answer would take the exchange past "
                                      f"{MAX_EXCHANGE_BARS} bars; start a new one")
    minutes = (end + body.bars * STEPS_PER_BAR) / STEPS_PER_QUARTER / body.bpm
    if max_minutes is not None and minutes > max_minutes:
        raise ExchangeProblem("bars", f"the exchange with its answer would last "
                                      f"{minutes:.0f} minutes at {body.bpm:g} bpm; the page "
                                      f"composes at most {max_minutes:g} minutes")
    starts = [n.start for n in body.notes]
    lengths = [min(n.length, end - n.start) for n in body.notes]  # held past the end: cut
    notes = make_notes(starts, lengths, [n.pitch for n in body.notes],
                       [n.velocity for n in body.notes])
    return Exchange(notes, end, float(body.bpm))


def context_primer_notes(exchange: Exchange, context_bars: int) -> tuple[np.ndarray, int]:
    """The notes the model hears (those starting in the last ``context_bars`` bars, or from
    the bar of the last note when those bars are silent), in 16ths from the window's first bar
    line, and that bar line."""
    notes = exchange.notes
    cut = max(0, exchange.end - context_bars * STEPS_PER_BAR)
    cut = min(cut, int(notes["start"].max()) // STEPS_PER_BAR * STEPS_PER_BAR)
    heard = notes[notes["start"] >= cut].copy()
    heard["start"] -= cut
    return heard, cut


def compose_answer(body: ExchangeIn, exchange: Exchange, checkpoint: Any, spq: int,
                   compose: Callable[[ComposeRequest], ComposeResult],
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The model's answer to ``exchange``: ``NOTE_DTYPE`` notes in 16ths of the exchange,
    from its end for ``body.bars`` bars. ``spq``: the model's steps per quarter note (a
    multiple of 4)."""
    if spq % STEPS_PER_QUARTER:
        raise ConfigError(f"the model's grid has {spq} steps a quarter note; playing along "
                          f"needs 16ths (a multiple of {STEPS_PER_QUARTER})")
    scale = spq // STEPS_PER_QUARTER
    heard, cut = context_primer_notes(exchange, body.context_bars)
    heard["start"] *= scale
    heard["duration"] *= scale
    primer = played_primer(heard, (exchange.end - cut) * scale, spq, exchange.bpm)
    request = ComposeRequest(
        checkpoint=checkpoint, bars=body.bars, primer_given=primer, bpm=exchange.bpm,
        seed=body.seed, temperature=body.temperature, ending="none", form="none",
        write_files=False, progress=progress)
    piece = compose(request).pieces[0]
    bar = STEPS_PER_BAR * scale
    # the decoded score keeps the primer's first sound in its bar (decoding.bar_offset)
    shift = int(heard["start"].min()) // bar * bar
    if piece.generated_start_tick + shift != (exchange.end - cut) * scale:
        raise ConfigError(f"the answer starts at step {piece.generated_start_tick + shift} of "
                          f"the heard bars, not at the phrase's end ({exchange.end - cut})")
    notes = piece.score.notes
    answer = notes[notes["start"] >= piece.generated_start_tick].copy()
    answer["start"] = (answer["start"] + shift) // scale + cut
    answer["duration"] = np.maximum(answer["duration"] // scale, 1)
    limit = exchange.end + body.bars * STEPS_PER_BAR
    answer = answer[(answer["start"] >= exchange.end) & (answer["start"] < limit)]
    answer["duration"] = np.minimum(answer["duration"], limit - answer["start"])
    return answer


def exchange_score(exchange: Exchange, answer: np.ndarray) -> Score:
    """The whole exchange with its answer as a score on the 16th grid (a marker where the
    answer starts)."""
    notes = np.concatenate([exchange.notes, answer])
    notes = make_notes(notes["start"], notes["duration"], notes["pitch"], notes["velocity"])
    return Score(notes, STEPS_PER_QUARTER, tempos=(Tempo(0, exchange.bpm),),
                 time_signatures=(TimeSignature(0, 4, 4),),
                 markers=(Marker(exchange.end, ANSWER_MARKER),), name="cadenza play-along")


def notes_view(notes: np.ndarray) -> list[dict[str, int]]:
    """Notes as the JSON the page reads: pitch, start and length in 16ths, velocity."""
    return [{"pitch": int(n["pitch"]), "start": int(n["start"]), "length": int(n["duration"]),
             "velocity": int(n["velocity"])} for n in notes]


@dataclass(frozen=True)
class KeptExchange:
    """An answered exchange kept for its downloads."""

    id: str
    score: Score
    model: str
    created: float


class ExchangeStore:
    """The newest ``capacity`` answered exchanges, in memory (a restart forgets them)."""

    def __init__(self, capacity: int = 100) -> None:
        self.capacity = capacity
        self._kept: OrderedDict[str, KeptExchange] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, score: Score, model: str) -> KeptExchange:
        kept = KeptExchange(uuid.uuid4().hex, score, model, time.time())
        with self._lock:
            self._kept[kept.id] = kept
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)
        return kept

    def get(self, exchange_id: str) -> KeptExchange | None:
        with self._lock:
            return self._kept.get(exchange_id)
