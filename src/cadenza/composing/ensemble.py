"""Composing for an ensemble (``--ensemble satb|quartet|piano``): the model it uses, the
controls that steer the composition toward it, and each finished piece shared among its parts.

1. :func:`ensemble_checkpoint`: with no checkpoint given, the ensemble's own shipped model
   (``chorale-satb`` for SATB), else the default one;
2. :func:`steer`: a grid model composes within the ensemble's whole range (``--range``) and
   with at most as many notes at once as it has parts (``--max-polyphony``; not when
   harmonising, where the cap could drop the melody's notes), unless the request sets them
   itself; a harmonised melody is the top part, so nothing is composed
   above it (``below_only``); with no primer asked for, SATB opens with a Bach chorale's
   bars when the model has them as primers; a biaxial model composing for SATB keeps, among
   4 draws of each step, one that moves in no parallel fifth or octave
   (``avoid_parallels``, :mod:`cadenza.generation.parallels`; the ensemble's
   ``avoid_parallels``, 1 for SATB), unless the request sets it itself;
3. :func:`arrange_pieces`: each piece's notes go to the parts by voice leading
   (:mod:`cadenza.voicing`); what had to be dropped or moved by octaves is counted (the
   result's ``arranged``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.loading import primer_bank
from cadenza.composing.pieces import ComposedPiece
from cadenza.composing.request import ComposeRequest
from cadenza.ensembles import Ensemble, get_ensemble
from cadenza.families import get_family
from cadenza.voicing import arrange

__all__ = ["arrange_pieces", "arranged_line", "ensemble_checkpoint", "request_ensemble", "steer"]


def request_ensemble(request: ComposeRequest) -> Ensemble | None:
    return get_ensemble(request.ensemble) if request.ensemble is not None else None


def ensemble_checkpoint(request: ComposeRequest) -> str | Path | None:
    """The checkpoint to compose with: the request's, else its ensemble's shipped model
    when this installation has it, else ``None`` (the default shipped model)."""
    ensemble = request_ensemble(request)
    if request.checkpoint is not None or ensemble is None or ensemble.default_model is None:
        return request.checkpoint
    from cadenza.shipped import shipped_models

    return shipped_models().get(ensemble.default_model)


def steer(request: ComposeRequest, loaded: LoadedCheckpoint) -> ComposeRequest:
    """The request with the ensemble's range, polyphony and avoiding of parallels as
    controls, where the model's family honours them and the request did not set them
    itself."""
    ensemble = request_ensemble(request)
    if ensemble is None:
        return request
    controls = get_family(loaded.model.family).controls
    changes: dict[str, Any] = {}
    if request.pitch_range is None and "range" in controls:
        changes["pitch_range"] = ensemble.range_text
    # Not for a melody: the parts drop what is too much instead (a cap keeps the melody's
    # notes, but chooses the rest by probability alone, not by part).
    if request.max_polyphony is None and ensemble.max_polyphony and "max_polyphony" in controls \
            and request.melody_file is None:
        changes["max_polyphony"] = ensemble.max_polyphony
    if request.melody_file is not None and ensemble.monophonic:
        changes["below_only"] = True
    if request.avoid_parallels is None and ensemble.avoid_parallels \
            and "onset_guides" in controls:
        changes["avoid_parallels"] = ensemble.avoid_parallels
    if ensemble.composer is not None and _no_primer_asked(request) \
            and ensemble.composer in primer_bank(loaded.path).composers():
        changes["composer"] = ensemble.composer
    return replace(request, **changes) if changes else request


def _no_primer_asked(request: ComposeRequest) -> bool:
    return (request.composer is None and request.primer_file is None and not request.no_primer
            and not request.random_primer and request.melody_file is None)


def arrange_pieces(pieces: list[ComposedPiece], request: ComposeRequest
                   ) -> dict[str, int] | None:
    """Share each piece's notes among the ensemble's parts (``piece.parts``; ``piece.score``
    becomes the notes as the parts play them) and return what was dropped, moved and cut,
    counted over all pieces (``None`` without an ensemble). A harmonised melody
    (``piece.input_notes``) is the top part as it is."""
    ensemble = request_ensemble(request)
    if ensemble is None:
        return None
    counts: dict[str, int] = {}
    for piece in pieces:
        arrangement = arrange(piece.score, ensemble, fixed=piece.input_notes)
        piece.parts = arrangement.part_scores(piece.score)
        piece.score = arrangement.merged(piece.score)
        if piece.input_notes is not None and ensemble.monophonic:  # the melody: the top part
            top = {(int(n["start"]), int(n["pitch"])) for n in piece.parts[0].notes}
            piece.input_notes = np.array(
                [(int(n["start"]), int(n["pitch"])) in top for n in piece.score.notes], bool)
        for key, value in arrangement.stats.items():
            counts[key] = counts.get(key, 0) + value
    return counts


def arranged_line(counts: dict[str, int]) -> str:
    """What the part writing did, in words: ``"0 notes dropped, 5 moved by octaves into their
    part's range, 1 held note cut short"``."""
    line = (f"{counts.get('dropped', 0)} notes dropped, {counts.get('octave_shifted', 0)} moved "
            f"by octaves into their part's range, {counts.get('cut_short', 0)} held notes cut "
            "short for the part's next note")
    outside = counts.get("melody_outside_range", 0)
    if outside:
        line += f"; {outside} melody notes kept as written outside the top part's range"
    return line
