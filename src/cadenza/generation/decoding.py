"""From generated arrays to scores a person can hear and see: decode, tempo, start marker."""

from __future__ import annotations

import numpy as np

from cadenza.generation.base import GenerationResult
from cadenza.representations.base import Representation
from cadenza.score import (
    GENERATED_MARKER,
    MARKER_PITCH,
    Marker,
    Score,
    Tempo,
    make_notes,
    sort_notes,
)


def bar_offset(result: GenerationResult, rep: Representation) -> int:
    """Ticks of silence put in front of a decoded piece so that it keeps its primer's place in
    a 4/4 bar (``result.first_step`` modulo a bar)."""
    return int(result.first_step) % (4 * rep.config.steps_per_quarter)


def generated_start_tick(result: GenerationResult, index: int, rep: Representation) -> int:
    """Tick at which the generated part of piece ``index`` begins."""
    return rep.onset_tick(result.arrays[index], result.primer_length) + bar_offset(result, rep)


def result_to_score(
    result: GenerationResult,
    index: int,
    representation: Representation,
    *,
    qpm: float = 120.0,
    name: str = "cadenza",
    marker_note: bool = False,
) -> Score:
    """Decode piece ``index`` of ``result`` with a tempo and a marker where generation starts.

    ``marker_note`` also adds a short very high note (MIDI 108) at that point, as the
    original attention-LSTM demo did.
    """
    score = representation.decode(result.arrays[index])
    start = generated_start_tick(result, index, representation)
    notes = score.notes
    offset = bar_offset(result, representation)
    if offset:
        notes = notes.copy()
        notes["start"] += offset
    if marker_note:
        marker = make_notes([start], [1], [MARKER_PITCH], 100)
        notes = sort_notes(np.concatenate([notes, marker]))
    return score.copy_with(
        notes=notes,
        tempos=(Tempo(0, float(qpm)),),
        markers=(Marker(start, GENERATED_MARKER),),
        name=name,
    )


def score_qpm(score: Score, default: float = 120.0) -> float:
    """The first tempo of ``score`` (``default`` when it has none)."""
    return float(score.tempos[0].qpm) if score.tempos else default
