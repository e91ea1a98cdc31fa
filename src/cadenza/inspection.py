"""What the network tracks: hidden activations and memory cells of each LSTM layer over a
primer, collected step by step through the models' own incremental ``step``.

Biaxial time-axis layers run once per note (weights tied across notes); the plot shows each
unit's mean over the notes. The attention model re-reads a window each step and carries no
state, so it is not supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cadenza.errors import ConfigError
from cadenza.models.base import SequenceModel
from cadenza.models.notewalk import NoteRule
from cadenza.representations.base import Representation

Layer = tuple[str, np.ndarray, np.ndarray]  # name, hidden (T, H), cells (T, H)


def _layers_of(state: Any, family: str, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(h, c) per layer as (H,) arrays of sequence 0 (biaxial: mean over its notes)."""
    if family == "notetokens":
        h, c = state  # (layers, B, H)
        return [(h[i, 0].numpy(), c[i, 0].numpy()) for i in range(h.shape[0])]
    out = []
    for h, c in state:  # (1, rows, H)
        if family == "biaxial":
            notes = h.shape[1] // batch
            out.append((h[0, :notes].mean(0).numpy(), c[0, :notes].mean(0).numpy()))
        else:
            out.append((h[0, 0].numpy(), c[0, 0].numpy()))
    return out


@torch.inference_mode()
def lstm_activations(
    model: SequenceModel, representation: Representation, primer: np.ndarray,
    first_step: int = 0,
) -> list[Layer]:
    """Per-layer hidden states and memory cells while the model reads ``primer`` (whose first
    element lies at grid step ``first_step`` of its piece: the biaxial beat inputs)."""
    family = model.family
    if family == "events":
        raise ConfigError("inspect needs a model that carries LSTM state: biaxial, "
                          "pianoroll or notetokens (the attention model re-reads its window)")
    if len(primer) == 0:
        raise ConfigError("the primer is empty")
    model.eval()
    device = next(model.parameters()).device
    state = model.init_state(1)
    steps: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for t in range(len(primer)):
        if family == "biaxial":
            current = primer[t].astype(np.float32)[None]  # (1, N, 2)
            feats = representation.input_features(current[:, None], first_step=first_step + t)[:, 0]  # type: ignore[attr-defined]
            rule = NoteRule.teacher(primer[min(t + 1, len(primer) - 1)][None])
            _, state = model.step(torch.from_numpy(feats).to(device), state, rule=rule)
        elif family == "pianoroll":
            frame = torch.from_numpy(primer[t].astype(np.float32))[None].to(device)
            _, state = model.step(frame, state)
        else:
            token = torch.from_numpy(primer[t].astype(np.int64))[None].to(device)
            _, state = model.step(token, state)
        steps.append(_layers_of(_cpu(state), family, 1))
    names = "time" if family == "biaxial" else "lstm"
    return [
        (f"{names} layer {i + 1}", np.stack([s[i][0] for s in steps]),
         np.stack([s[i][1] for s in steps]))
        for i in range(len(steps[0]))
    ]


def _cpu(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.detach().float().cpu()
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu(s) for s in state)
    return state
