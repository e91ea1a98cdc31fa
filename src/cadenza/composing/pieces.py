"""Finishing composed pieces: each generated array decoded into a score at the piece's tempo,
cut to its bars, played (humanised, slowed down at the end) and marked with its seed; what
came out of a harmonisation's melody marked, and degeneration warned of."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.names import base_name
from cadenza.composing.primer import Opening
from cadenza.composing.request import ComposeRequest
from cadenza.degeneration import degeneration_warnings
from cadenza.families import get_family
from cadenza.generation import GenerationResult
from cadenza.generation.decoding import generated_start_tick, result_to_score
from cadenza.generation.melody import MelodyPlan
from cadenza.score import Marker, Score
from cadenza.tempo_shape import shaped_tempo

log = logging.getLogger(__name__)

SEED_MARKER = "cadenza seed "  # a MIDI marker in every composed piece: "cadenza seed 1234"


@dataclass
class ComposedPiece:
    """One generated piece and the files written for it."""

    score: Score
    generated_start_tick: int
    files: list[Path] = field(default_factory=list)
    probabilities: np.ndarray | None = None
    stem: str = "cadenza"  # the file name the piece is (or would be) saved under
    index: int = 0  # its place in the request's batch
    warnings: list[str] = field(default_factory=list)  # degeneration, in one line each
    # harmonise: which notes of ``score`` are the user's melody (input, not composed)
    input_notes: np.ndarray | None = None  # (num_notes,) bool
    # an ensemble's parts (one score each, its notes, name and program; see cadenza.voicing)
    parts: list[Score] | None = None


@dataclass
class ComposeResult:
    pieces: list[ComposedPiece]
    primer_source: str
    stats: dict[str, float]
    checkpoint: Path
    seed: int | None = None
    primer_used: str = ""  # what of the primer was used: bars, metre, key, tempo
    form: str | None = None  # the form composed to (drawn when the request said "auto")
    form_drawn: bool = False  # "auto" drew the form from the seed (form None: it drew none)
    # an ensemble's part writing, over all pieces: notes dropped, octave-shifted, cut short
    arranged: dict[str, int] | None = None


def finish_pieces(result: GenerationResult, request: ComposeRequest, loaded: LoadedCheckpoint,
                  opening: Opening, melody: MelodyPlan | None, qpm: float
                  ) -> list[ComposedPiece]:
    """The batch's pieces as scores at ``qpm`` quarter notes a minute, named and checked."""
    base = request.name or base_name(loaded, opening.primer, opening.melody, request.style)
    pieces = []
    for index in range(request.count):
        piece = _finish_piece(result, index, loaded, request, qpm,
                              silent_lead=opening.primer is None)
        piece.score = piece.score.copy_with(
            markers=(*piece.score.markers, Marker(0, f"{SEED_MARKER}{request.seed}")))
        piece.stem = base if request.count == 1 else f"{base}-{index + 1}"
        piece.index = index
        piece.warnings = _warnings(piece, request, loaded, melody is not None)
        if melody is not None:
            piece.input_notes = _melody_notes(piece.score, melody)
        pieces.append(piece)
    return pieces


def _finish_piece(result: GenerationResult, index: int, loaded: LoadedCheckpoint,
                  request: ComposeRequest, qpm: float, silent_lead: bool = False
                  ) -> ComposedPiece:
    rep = loaded.representation
    score = result_to_score(result, index, rep, qpm=qpm, marker_note=request.marker_note,
                            name="cadenza")
    start = generated_start_tick(result, index, rep)
    if silent_lead and start:  # drop the silent bar in front: the music starts at tick 0
        notes = score.notes.copy()
        notes["start"] -= start
        markers = tuple(replace(m, tick=max(m.tick - start, 0)) for m in score.markers)
        score, start = score.copy_with(notes=notes[notes["start"] >= 0], markers=markers), 0
    if not get_family(loaded.model.family).grid and request.length is None:
        end = start + request.bars * 4 * rep.config.steps_per_quarter
        score = _cut(score, end)
    score = shaped_tempo(score, qpm, humanise=request.humanise, phrase_bars=request.phrase_bars,
                         ritardando=request.ritardando, seed=(request.seed or 0) + index)
    if request.velocity is not None:
        notes = score.notes.copy()
        notes["velocity"] = request.velocity
        score = score.copy_with(notes=notes)
    if request.program:
        score = score.copy_with(program=request.program)
    probs = result.probabilities[index] if result.probabilities is not None else None
    return ComposedPiece(score, start, probabilities=probs)


def _melody_notes(score: Score, melody: MelodyPlan) -> np.ndarray:
    """(num_notes,) bool: the notes of a harmonised ``score`` that are the clamped melody's
    (same start step and pitch; the score's ticks are the model's grid steps)."""
    wanted = {(int(n["start"]), int(n["pitch"])) for n in melody.melody}
    return np.array([(int(s), int(p)) in wanted
                     for s, p in zip(score.notes["start"], score.notes["pitch"], strict=True)],
                    dtype=bool)


def _warnings(piece: ComposedPiece, request: ComposeRequest, loaded: LoadedCheckpoint,
              harmonised: bool) -> list[str]:
    """Degeneration warnings for a piece's generated part (see cadenza.degeneration)."""
    bar = 4 * piece.score.ticks_per_quarter
    if request.length is None and not harmonised:
        bars = float(request.bars)
    else:
        bars = max(1.0, (piece.score.end_tick - piece.generated_start_tick) / bar)
    found = degeneration_warnings(piece.score, piece.generated_start_tick, bars, loaded.info)
    for line in found:
        log.warning("%s: %s", piece.stem, line)
    return found


def _cut(score: Score, end_tick: int) -> Score:
    """Drop notes starting at or after ``end_tick`` and shorten those that cross it."""
    notes = score.notes[score.notes["start"] < end_tick].copy()
    notes["duration"] = np.minimum(notes["start"] + notes["duration"], end_tick) - notes["start"]
    return score.copy_with(notes=notes)
