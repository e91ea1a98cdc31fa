"""What the network tracks: hidden activations and memory cells of each LSTM layer over a
primer, collected step by step through the models' own incremental ``step``.

Biaxial time-axis layers run once per note (weights tied across notes); the plot shows each
unit's mean over the notes. The attention model re-reads a window each step and carries no
state, so it is not supported.
"""

from __future__ import annotations

import numpy as np

from cadenza.errors import ConfigError
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation

Layer = tuple[str, np.ndarray, np.ndarray]  # name, hidden (T, H), cells (T, H)


def lstm_activations(
    model: SequenceModel, representation: Representation, primer: np.ndarray,
    first_step: int = 0,
) -> list[Layer]:
    """Per-layer hidden states and memory cells while the model reads ``primer`` (whose first
    element lies at grid step ``first_step`` of its piece: the biaxial beat inputs)."""
    if len(primer) == 0:
        raise ConfigError("the primer is empty")
    model.eval()
    steps = [model.layer_states(state)
             for state in model.read_primer(representation, primer, first_step)]
    return [
        (f"{model.layer_label} layer {i + 1}", np.stack([s[i][0] for s in steps]),
         np.stack([s[i][1] for s in steps]))
        for i in range(len(steps[0]))
    ]
