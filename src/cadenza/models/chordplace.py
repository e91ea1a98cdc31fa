"""Where a note sits in its chord, read by the biaxial dynamics output (``velocity_voicing``).

A biaxial model with dynamics draws each started note's velocity bin from its time axis
alone, before the walk up the keyboard has chosen the notes above it. So it cannot know
whether a note is the top of its chord, though a pianist plays the top voice out. On the
valid split the realism classifier (``benchmarks/realism.py``) leans on exactly that: the top
voice's accent (``dynamics.top_voice_accent`` in :mod:`cadenza.metrics.realism`) is weaker
in the model's pieces than in real ones.

With ``velocity_voicing`` the velocity logits also read, for every note, once the step's
notes are known (the true ones in training, the chosen ones when composing), a few numbers
of its place in the step's sounding notes (:func:`voicing_features`). Their weights start at
zero, so a model initialised from one without them predicts exactly as before.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cadenza.errors import CheckpointError

__all__ = ["VOICING_FEATURES", "grow_for_voicing", "velocity_logits", "voicing_features",
           "voicing_layer"]

VOICING_FEATURES = 5
_SCALE = 4.0  # counts are divided by this, so a usual chord's numbers stay near 0..1


def voicing_features(notes: torch.Tensor) -> torch.Tensor:
    """``notes`` (..., N, >=2) play/articulate of one step -> (..., N, 5) float.

    Per note: 1 if it is the highest sounding note, 1 if the lowest, the sounding notes
    above it and below it (each / 4), and the notes started at the step (/ 4).
    """
    play = (notes[..., 0] > 0).to(torch.float32)  # (..., N)
    started = play * (notes[..., 1] > 0).to(torch.float32)
    below = torch.cumsum(play, dim=-1) - play  # sounding notes under each note
    total = play.sum(-1, keepdim=True)
    above = total - below - play
    top = play * (above == 0).to(play.dtype)
    bottom = play * (below == 0).to(play.dtype)
    count = started.sum(-1, keepdim=True).expand_as(play)
    return torch.stack([top, bottom, above / _SCALE, below / _SCALE, count / _SCALE], dim=-1)


def voicing_layer(bins: int) -> nn.Linear:
    """The (5 -> ``bins``) layer from the voicing features to velocity logits, at zero."""
    layer = nn.Linear(VOICING_FEATURES, bins, bias=False)
    nn.init.zeros_(layer.weight)
    return layer


def velocity_logits(velocity: nn.Module, voicing: nn.Module | None, time_out: torch.Tensor,
                    notes: torch.Tensor, where: torch.Tensor | None = None) -> torch.Tensor:
    """(..., N, bins) velocity logits of every note: the ``velocity`` layer on the time
    axis' ``time_out`` (..., N, Ht), plus, with a ``voicing`` layer, its reading of each
    note's place among the step's ``notes`` (..., N, >=2). With a bool mask ``where``
    (..., N), the (K, bins) logits of its K notes only (training scores the started notes
    alone, so the layers read only theirs)."""
    features = None if voicing is None else voicing_features(notes)
    if where is not None:
        time_out = time_out[where]
        features = None if features is None else features[where]
    logits: torch.Tensor = velocity(time_out)
    if voicing is None or features is None:
        return logits
    return logits + voicing(features.to(logits.dtype))


def grow_for_voicing(saved_config: dict[str, Any], weights: dict[str, torch.Tensor],
                     voicing: nn.Linear | None) -> dict[str, torch.Tensor]:
    """The saved ``weights`` for a model whose ``voicing`` layer (``None``: none) a model
    saved without ``velocity_voicing`` lacks: that layer at zero weight."""
    saved = bool(saved_config.get("velocity_voicing", False))
    if saved and voicing is None:
        raise CheckpointError("the saved model reads velocity_voicing and this one does not; "
                              "add --set velocity_voicing=true")
    if voicing is None or saved:
        return weights
    return {**weights, "voicing.weight": torch.zeros_like(voicing.weight)}
