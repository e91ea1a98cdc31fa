"""Note/chord token LSTM: next-token prediction over ``notetokens`` sequences.

Each token is three ids ``[element, duration, shift]`` (a note or chord symbol, its length and
the time to the next token). They are embedded separately and concatenated, run through a
stacked LSTM, a ReLU dense layer and one softmax head per attribute::

    [E(element), E(duration), E(shift)] (B, T, De+Dd+Ds)
    -> LSTM x num_layers (B, T, H) -> dropout -> Linear + ReLU (B, T, dense) -> dropout
    -> element logits (B, T, Ne), duration logits (B, T, Nd), shift logits (B, T, Ns)

The original used Keras' recurrent dropout inside each LSTM; here dropout sits between the
stacked layers and after them, which keeps the fused LSTM kernels. Training is teacher-forced
on every position of a window; generation carries the LSTM state one token at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cadenza.errors import ConfigError
from cadenza.models.base import (
    Batch,
    LayerState,
    ModelConfig,
    SequenceModel,
    State,
    check_probability,
)

__all__ = ["HEADS", "PRESETS", "NoteTokensLSTM", "NoteTokensLSTMConfig", "build", "config_for"]

HEADS = ("element", "duration", "shift")  # column order of the token arrays


class _NoteTokensLike(Protocol):
    """What this module needs of the ``notetokens`` representation."""

    @property
    def num_elements(self) -> int: ...

    @property
    def num_durations(self) -> int: ...

    @property
    def num_shifts(self) -> int: ...


@dataclass
class NoteTokensLSTMConfig(ModelConfig):
    """Sizes of the token LSTM and the shape of its training data.

    Attributes:
        num_elements, num_durations, num_shifts: vocabulary sizes of the fitted
            representation, filled in by :func:`config_for`; the preset values are
            placeholders of a typical piano corpus (used for parameter counts).
        element_embed_dim, duration_embed_dim, shift_embed_dim: embedding widths.
        hidden_size: LSTM units per layer.
        num_layers: stacked LSTM layers.
        dense_size: width of the ReLU layer before the heads.
        dropout: dropout between LSTM layers, after the LSTM and after the dense layer.
        primer_tokens: default primer length for generation (tokens).
        generate_tokens: default number of tokens a generation run appends.
        batch_size: windows per training batch.
        seq_len: tokens per training window (targets are the same window shifted by one).
        transpose_range: inclusive semitone range of training transposition; ``(0, 0)``
            (the default) is off.
    """

    family: ClassVar[str] = "notetokens"
    positive_fields: ClassVar[tuple[str, ...]] = (
        "batch_size", "seq_len", "num_elements", "num_durations", "num_shifts",
        "element_embed_dim", "duration_embed_dim", "shift_embed_dim", "hidden_size",
        "num_layers", "dense_size", "primer_tokens", "generate_tokens",
    )

    num_elements: int = 400
    num_durations: int = 24
    num_shifts: int = 24
    element_embed_dim: int = 128
    duration_embed_dim: int = 32
    shift_embed_dim: int = 32
    hidden_size: int = 512
    num_layers: int = 3
    dense_size: int = 256
    dropout: float = 0.3
    primer_tokens: int = 50
    generate_tokens: int = 500
    # The shape of the training data (ModelConfig's fields, which keep their place first).
    batch_size: int = 128
    seq_len: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        check_probability("dropout", self.dropout)


PRESETS: dict[str, NoteTokensLSTMConfig] = {
    # Classical-Piano-Composer sizes with the MSOE-style separate duration/shift inputs.
    "notetokens-lstm": NoteTokensLSTMConfig(),
    "notetokens-small": NoteTokensLSTMConfig(
        batch_size=64, seq_len=64, transpose_range=(-3, 3), element_embed_dim=64,
        duration_embed_dim=16, shift_embed_dim=16, hidden_size=256, num_layers=2,
        dense_size=128, dropout=0.2,
    ),
    "notetokens-debug": NoteTokensLSTMConfig(
        batch_size=4, seq_len=16, element_embed_dim=8, duration_embed_dim=4, shift_embed_dim=4,
        hidden_size=16, num_layers=2, dense_size=16, dropout=0.0, primer_tokens=8,
        generate_tokens=32,
    ),
}


def config_for(
    config: NoteTokensLSTMConfig, representation: _NoteTokensLike
) -> NoteTokensLSTMConfig:
    """Copy of ``config`` with the vocabulary sizes of a fitted ``representation``."""
    num_elements = int(representation.num_elements)
    num_durations = int(representation.num_durations)
    num_shifts = int(representation.num_shifts)
    if min(num_elements, num_durations, num_shifts) <= 0:
        raise ConfigError(
            f"representation has an empty vocabulary (elements={num_elements}, "
            f"durations={num_durations}, shifts={num_shifts}): fit it first"
        )
    return replace(
        config, num_elements=num_elements, num_durations=num_durations, num_shifts=num_shifts
    )


LSTMState = tuple[torch.Tensor, torch.Tensor]


class NoteTokensLSTM(SequenceModel):
    """Stacked LSTM over ``[element, duration, shift]`` tokens with one softmax head each.

    Batches (from :class:`cadenza.data.batching.notetokens.NoteTokensBatchMaker`):
        ``inputs``: (B, T, 3) long token ids; ``targets``: (B, T, 3) long, the next tokens.
    """

    family: ClassVar[str] = "notetokens"
    representation: ClassVar[str] = "notetokens"
    config: NoteTokensLSTMConfig

    def __init__(self, config: NoteTokensLSTMConfig) -> None:
        super().__init__(config)
        c = config
        self.element_embedding = nn.Embedding(c.num_elements, c.element_embed_dim)
        self.duration_embedding = nn.Embedding(c.num_durations, c.duration_embed_dim)
        self.shift_embedding = nn.Embedding(c.num_shifts, c.shift_embed_dim)
        embed = c.element_embed_dim + c.duration_embed_dim + c.shift_embed_dim
        self.lstm = nn.LSTM(
            embed,
            c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(c.dropout)
        self.dense = nn.Linear(c.hidden_size, c.dense_size)
        self.element_head = nn.Linear(c.dense_size, c.num_elements)
        self.duration_head = nn.Linear(c.dense_size, c.num_durations)
        self.shift_head = nn.Linear(c.dense_size, c.num_shifts)

    def _run(
        self, tokens: torch.Tensor, state: LSTMState | None
    ) -> tuple[dict[str, torch.Tensor], LSTMState]:
        """tokens (B, T, 3) long -> logits per head (B, T, N_head) and the final LSTM state."""
        x = torch.cat(
            [
                self.element_embedding(tokens[..., 0]),
                self.duration_embedding(tokens[..., 1]),
                self.shift_embedding(tokens[..., 2]),
            ],
            dim=-1,
        )  # (B, T, De + Dd + Ds)
        hidden, new_state = self.lstm(x, state)  # (B, T, H)
        z = self.dropout(F.relu(self.dense(self.dropout(hidden))))  # (B, T, dense)
        logits = {
            "element_logits": self.element_head(z),
            "duration_logits": self.duration_head(z),
            "shift_logits": self.shift_head(z),
        }
        return logits, new_state

    def predict_logits(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Teacher-forced logits for every position of ``batch["inputs"]`` (from zero state)."""
        logits, _ = self._run(batch["inputs"], None)
        return logits

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Sum of the three heads' cross-entropies, each averaged over all positions."""
        logits = self.predict_logits(batch)
        targets = batch["targets"]  # (B, T, 3)
        total = torch.zeros((), device=targets.device)
        metrics: dict[str, float] = {}
        for column, head in enumerate(HEADS):
            head_logits = logits[f"{head}_logits"]
            target = targets[..., column]
            ce = F.cross_entropy(head_logits.reshape(-1, head_logits.shape[-1]), target.reshape(-1))
            total = total + ce
            metrics[f"{head}_ce"] = float(ce.detach())
            with torch.no_grad():
                accuracy = (head_logits.argmax(-1) == target).float().mean()
            metrics[f"{head}_acc"] = float(accuracy)
        return total, metrics

    # -- generation ---------------------------------------------------------------------
    def init_state(self, batch_size: int) -> LSTMState:
        """Zero (h, c), each (num_layers, B, H), on the model's device."""
        weight = self.element_embedding.weight
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        return (
            torch.zeros(shape, device=weight.device, dtype=weight.dtype),
            torch.zeros(shape, device=weight.device, dtype=weight.dtype),
        )

    @torch.no_grad()
    def step(self, inputs: Any, state: State, **kwargs: Any) -> tuple[Any, State]:
        """Feed one token per sequence, ``inputs`` (B, 3) long, carrying the LSTM state.

        Returns ``({"element_logits": (B, Ne), "duration_logits": (B, Nd),
        "shift_logits": (B, Ns)}, state)``; ``state=None`` starts from zeros.
        """
        logits, new_state = self._run(inputs.unsqueeze(1), state)
        return {name: value.squeeze(1) for name, value in logits.items()}, new_state

    # -- inspection ----------------------------------------------------------------------
    @torch.inference_mode()
    def read_primer(self, representation: Any, primer: np.ndarray, first_step: int = 0
                    ) -> Iterator[State]:
        state = self.init_state(1)
        device = self.element_embedding.weight.device
        for token in primer:
            _, state = self.step(torch.from_numpy(token.astype(np.int64))[None].to(device), state)
            yield state

    def layer_states(self, state: State) -> list[LayerState]:
        h, c = state  # (layers, B, H)
        return [(h[i, 0].float().cpu().numpy(), c[i, 0].float().cpu().numpy())
                for i in range(h.shape[0])]

    # -- accounting ---------------------------------------------------------------------
    def flops_per_batch(self, batch: Batch) -> float:
        """Matmul FLOPs of forward + backward (3x forward) for ``batch``."""
        c = self.config
        b, t = batch["inputs"].shape[:2]
        per_token = 0
        lstm_in = c.element_embed_dim + c.duration_embed_dim + c.shift_embed_dim
        for _ in range(c.num_layers):
            per_token += 2 * 4 * c.hidden_size * (lstm_in + c.hidden_size)
            lstm_in = c.hidden_size
        per_token += 2 * c.hidden_size * c.dense_size
        per_token += 2 * c.dense_size * (c.num_elements + c.num_durations + c.num_shifts)
        return 3.0 * b * t * per_token


def build(config: NoteTokensLSTMConfig) -> NoteTokensLSTM:
    """The model for ``config`` (call :func:`config_for` first to match a representation)."""
    return NoteTokensLSTM(config)
