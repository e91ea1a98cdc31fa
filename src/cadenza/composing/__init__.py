"""Compose pieces with a checkpoint: the one function the CLI and the web server call.

``compose(request)`` takes a request through these steps, a module each:

1. :mod:`~cadenza.composing.request`: check the request (its fields, and the controls the
   model's family honours) and settle its seed and torch threads;
2. :mod:`~cadenza.composing.primer`: choose and read the primer (a held-out piece by
   composer, a MIDI file, or silence) and a harmonisation's melody;
3. :mod:`~cadenza.composing.planning`: plan the piece (its key, length, form, cadence and
   clamped melody);
4. :mod:`~cadenza.composing.settings`: gather the sampling settings (the request's, else
   the model's calibrated ones) into one generation configuration;
5. generate ``count`` pieces as one batch (:func:`cadenza.generation.generate`);
6. :mod:`~cadenza.composing.pieces`: finish each piece (tempo, seed marker, warnings), and
   with an ensemble :mod:`~cadenza.composing.ensemble` shares its notes among the parts
   (which also chose the model and steered the request's range and polyphony at step 1);
7. :mod:`~cadenza.composing.outputs`: write ``.mid`` (always), ``.wav`` and ``.png`` files
   (on request) and the ``.json`` sidecar, all or none, without overwriting anything, under
   the names of :mod:`~cadenza.composing.names`.

:mod:`~cadenza.composing.infilling` composes bars of a piece again instead, and
:mod:`~cadenza.composing.loading` loads (and caches) checkpoints and their primers.
"""

from __future__ import annotations

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.ensemble import (
    arrange_pieces,
    arranged_line,
    ensemble_checkpoint,
    steer,
)
from cadenza.composing.infilling import compose_infill
from cadenza.composing.loading import (
    checkpoint_for,
    default_checkpoint,
    list_composers,
    list_styles,
    load,
    primer_bank,
)
from cadenza.composing.names import base_name, model_name, replay_name
from cadenza.composing.outputs import PIECE_FILES, unique_stem, write_pieces
from cadenza.composing.pieces import SEED_MARKER, ComposedPiece, ComposeResult, finish_pieces
from cadenza.composing.planning import plan_piece
from cadenza.composing.primer import (
    BANK_BPM,
    NO_PIECE_SILENCE,
    SILENCE,
    TRAINING_PRIMER,
    check_meter,
    describe_primer,
    piece_tempo,
    played_primer,
    read_opening,
    with_rests,
)
from cadenza.composing.request import (
    ENDINGS,
    MAX_BARS,
    ComposeRequest,
    check_controls,
    compose_threads,
    with_seed,
)
from cadenza.composing.settings import generation_config, has_dynamics
from cadenza.generation import generate
from cadenza.machine import torch_threads

__all__ = [
    "BANK_BPM", "ENDINGS", "MAX_BARS", "NO_PIECE_SILENCE", "PIECE_FILES", "SEED_MARKER",
    "SILENCE", "TRAINING_PRIMER", "ComposeRequest", "ComposeResult", "ComposedPiece",
    "arranged_line",
    "base_name", "check_controls", "check_meter", "checkpoint_for", "compose",
    "default_checkpoint", "describe_primer", "generate", "has_dynamics", "list_composers",
    "list_styles", "load", "model_name", "played_primer", "primer_bank", "unique_stem",
    "with_rests",
]


def compose(request: ComposeRequest) -> ComposeResult:
    """Generate ``request.count`` pieces and write their files into ``request.out_dir``
    (unless ``request.write_files`` is false).

    A single piece of a grid family is generated on one torch thread unless
    ``request.threads`` says otherwise (see :func:`compose_threads`).
    """
    loaded = load(checkpoint_for(ensemble_checkpoint(request), request.style))
    request = steer(request, loaded)
    check_controls(request, loaded.model.family)
    request = with_seed(request)
    with torch_threads(compose_threads(request, loaded)):
        if request.infill is not None:
            return compose_infill(request, loaded)
        return _compose(request, loaded)


def _compose(request: ComposeRequest, loaded: LoadedCheckpoint) -> ComposeResult:
    opening = read_opening(request, loaded)
    request, plan = plan_piece(request, loaded, opening)
    config = generation_config(request, loaded, opening, plan)
    result = generate(loaded.model, loaded.representation, opening.array, config)
    qpm, used = piece_tempo(request, loaded, opening)
    pieces = finish_pieces(result, request, loaded, opening, plan.melody, qpm)
    arranged = arrange_pieces(pieces, request)
    if request.write_files:
        write_pieces(pieces, request, loaded, checkpoint=replay_name(loaded),
                     primer=opening.source)
    return ComposeResult(pieces, opening.source, result.stats, loaded.path, request.seed, used,
                         request.form, plan.form_drawn, arranged)
