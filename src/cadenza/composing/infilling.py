"""Infilling: bars A..B of a piece composed again, everything else kept
(:mod:`cadenza.generation.infill`)."""

from __future__ import annotations

from dataclasses import replace

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.ensemble import arrange_pieces
from cadenza.composing.outputs import write_pieces
from cadenza.composing.pieces import SEED_MARKER, ComposedPiece, ComposeResult
from cadenza.composing.planning import auto_key
from cadenza.composing.primer import check_meter
from cadenza.composing.request import ComposeRequest
from cadenza.composing.settings import sampling_settings
from cadenza.controls import AUTO_KEY
from cadenza.generation import GenerationConfig
from cadenza.generation.infill import infill, parse_bars
from cadenza.generation.primerbank import primer_from_file
from cadenza.score import GENERATED_MARKER, Marker


def compose_infill(request: ComposeRequest, loaded: LoadedCheckpoint) -> ComposeResult:
    """Bars A..B of the primer file composed again, everything else kept (see infill)."""
    assert request.infill is not None and request.primer_file is not None
    rep = loaded.representation
    piece = primer_from_file(request.primer_file, rep)
    check_meter(piece, loaded)
    bars = parse_bars(request.infill)
    if request.key == AUTO_KEY:
        request = replace(request, key=auto_key(piece))
    config = GenerationConfig(**sampling_settings(request, loaded))
    score, stats = infill(loaded.model, rep, piece.score, bars, config,
                          request.infill_candidates)
    start = (bars[0] - 1) * 4 * rep.config.steps_per_quarter
    # A piece cadenza composed carries its own seed and start markers: this one gets new ones.
    kept = tuple(m for m in score.markers
                 if m.text != GENERATED_MARKER and not m.text.startswith(SEED_MARKER))
    score = score.copy_with(markers=(*kept, Marker(start, GENERATED_MARKER),
                                     Marker(0, f"{SEED_MARKER}{request.seed}")),
                            program=request.program or score.program)
    composed = ComposedPiece(score, start,
                             stem=request.name or f"{piece.name}-bars-{bars[0]}-{bars[1]}")
    arranged = arrange_pieces([composed], request)
    if request.write_files:
        write_pieces([composed], request, loaded, checkpoint=loaded.path, primer=piece.source)
    return ComposeResult([composed], piece.source, stats, loaded.path, request.seed,
                         f"{piece.source} (bars {bars[0]}-{bars[1]} composed again)",
                         arranged=arranged)
