"""Attention LSTM over MIDI messages: predicts the next (type, delta, pitch) from a window.

The model reads a window of ``W`` past messages of the ``events`` representation, each
``[pitch index, is_on, delta ticks]``, and predicts the following message with three cascaded
heads::

    pitch embedding + is_on + delta/max_delta  ->  Linear -> (B, W, d_model)
    -> multi-head self-attention over the window (residual + LayerNorm)
    -> LSTM over the window, all hidden states (B, W, H)
    -> additive (Bahdanau) attention, query = last hidden state -> context (B, H)
    -> features = [context, last hidden state] (B, 2H)
    -> on/off head (2 logits) -> softmax ---------------------------+
    -> duration head (sigmoid, delta/max_delta) fed features + on/off probs
    -> pitch head (num_pitches logits) fed features + on/off probs + duration

There is no positional encoding: the LSTM after the self-attention layer supplies the order.
Self-attention over a sliding window is not incremental, so :meth:`EventsLSTM.step` re-runs
the whole window for every generated message; it keeps no recurrent state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cadenza.errors import ConfigError
from cadenza.models.base import Batch, ModelConfig, SequenceModel, State, check_probability

__all__ = [
    "PRESETS",
    "EventsLSTM",
    "EventsLSTMConfig",
    "build",
    "config_for",
    "duration_to_ticks",
]


class _EventsLike(Protocol):
    """What this module needs of the ``events`` representation."""

    @property
    def config(self) -> Any: ...  # has low, high, max_delta

    def snap_delta(self, values: np.ndarray) -> np.ndarray: ...


@dataclass
class EventsLSTMConfig(ModelConfig):
    """Sizes of the attention LSTM and the shape of its training data.

    Attributes:
        num_pitches: pitch classes of the pitch head (88 keys, from the representation).
        max_delta: largest delta in ticks (from the representation); deltas are scaled by it.
        pitch_embed_dim: width of the pitch embedding.
        d_model: width of the projected message vector and of the self-attention.
        num_heads: self-attention heads (must divide ``d_model``).
        hidden_size: LSTM units per layer (``H``).
        lstm_layers: stacked LSTM layers.
        attention_dim: width of the additive attention's hidden layer.
        head_hidden: width of a ReLU layer inside each head; ``0`` makes each head one Linear.
        dropout: dropout after self-attention, between LSTM layers and on the features.
        loss_weights: weights of (on/off CE, duration MSE, pitch CE) in the loss.
        generate_messages: default number of messages a generation run produces.
        batch_size: windows per training batch.
        seq_len: messages per input window (``W``); the target is the message after it.
        transpose_range: inclusive semitone range of training transposition; ``(0, 0)``
            (the default) is off.
    """

    family: ClassVar[str] = "events"
    positive_fields: ClassVar[tuple[str, ...]] = (
        "batch_size", "seq_len", "num_pitches", "max_delta", "pitch_embed_dim", "d_model",
        "num_heads", "hidden_size", "lstm_layers", "attention_dim", "generate_messages",
    )

    num_pitches: int = 88
    max_delta: int = 96
    pitch_embed_dim: int = 32
    d_model: int = 128
    num_heads: int = 4
    hidden_size: int = 256
    lstm_layers: int = 1
    attention_dim: int = 128
    head_hidden: int = 0
    dropout: float = 0.2
    loss_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    generate_messages: int = 1000
    # The shape of the training data (ModelConfig's fields, which keep their place first).
    batch_size: int = 64
    seq_len: int = 150

    def __post_init__(self) -> None:
        self.loss_weights = tuple(self.loss_weights)  # type: ignore[assignment]
        super().__post_init__()
        if self.head_hidden < 0:
            raise ConfigError(f"head_hidden must be >= 0, got {self.head_hidden!r}")
        if self.d_model % self.num_heads:
            raise ConfigError(
                f"num_heads must divide d_model, got d_model={self.d_model}, "
                f"num_heads={self.num_heads}"
            )
        check_probability("dropout", self.dropout)
        weights = self.loss_weights
        if len(weights) != 3 or any(w < 0 for w in weights) or not any(w > 0 for w in weights):
            raise ConfigError(
                f"loss_weights must be 3 non-negative numbers, not all zero, got {weights!r}"
            )


PRESETS: dict[str, EventsLSTMConfig] = {
    # The original project: 150-message windows, one Keras-sized LSTM of 256 units,
    # heads that are single dense layers.
    "events-attention": EventsLSTMConfig(),
    "events-small": EventsLSTMConfig(
        batch_size=32, seq_len=64, transpose_range=(-3, 3), pitch_embed_dim=16, d_model=64,
        num_heads=4, hidden_size=128, attention_dim=64, head_hidden=64, dropout=0.1,
    ),
    "events-debug": EventsLSTMConfig(
        batch_size=4, seq_len=12, pitch_embed_dim=8, d_model=16, num_heads=2, hidden_size=16,
        attention_dim=8, head_hidden=8, dropout=0.0, generate_messages=32,
    ),
}


def config_for(config: EventsLSTMConfig, representation: _EventsLike) -> EventsLSTMConfig:
    """Copy of ``config`` whose pitch range and delta scale match ``representation``."""
    rep_config = representation.config
    return replace(
        config,
        num_pitches=int(rep_config.high) - int(rep_config.low) + 1,
        max_delta=int(rep_config.max_delta),
    )


def duration_to_ticks(scaled: torch.Tensor | np.ndarray, representation: _EventsLike) -> np.ndarray:
    """Turn the duration head's output (``delta / max_delta`` in 0..1) into delta ticks.

    The value is scaled by the representation's ``max_delta``, rounded and snapped to the
    representation's fitted delta values. Returns an int64 array of the input's shape.
    """
    values = scaled.detach().cpu().numpy() if isinstance(scaled, torch.Tensor) else scaled
    max_delta = int(representation.config.max_delta)
    ticks = np.rint(np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0) * max_delta)
    return np.asarray(representation.snap_delta(ticks.astype(np.int64)), dtype=np.int64)


def _head(in_features: int, hidden: int, out_features: int) -> nn.Module:
    if hidden == 0:
        return nn.Linear(in_features, out_features)
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features))


class EventsLSTM(SequenceModel):
    """Self-attention + LSTM + additive attention with cascaded type/duration/pitch heads.

    Batches (from :class:`cadenza.data.batching.events.EventsBatchMaker`):
        ``window``: (B, W, 3) long, columns ``[pitch - low, is_on, delta ticks]``;
        ``target``: (B, 3) long, the next message in the same columns.
    """

    family: ClassVar[str] = "events"
    representation: ClassVar[str] = "events"
    config: EventsLSTMConfig

    def __init__(self, config: EventsLSTMConfig) -> None:
        super().__init__(config)
        c = config
        self.pitch_embedding = nn.Embedding(c.num_pitches, c.pitch_embed_dim)
        self.input_proj = nn.Linear(c.pitch_embed_dim + 2, c.d_model)
        self.self_attention = nn.MultiheadAttention(
            c.d_model, c.num_heads, dropout=c.dropout, batch_first=True
        )
        self.attention_norm = nn.LayerNorm(c.d_model)
        self.lstm = nn.LSTM(
            c.d_model,
            c.hidden_size,
            num_layers=c.lstm_layers,
            batch_first=True,
            dropout=c.dropout if c.lstm_layers > 1 else 0.0,
        )
        self.attn_query = nn.Linear(c.hidden_size, c.attention_dim, bias=False)
        self.attn_key = nn.Linear(c.hidden_size, c.attention_dim)
        self.attn_score = nn.Linear(c.attention_dim, 1, bias=False)
        self.dropout = nn.Dropout(c.dropout)
        features = 2 * c.hidden_size
        self.on_head = _head(features, c.head_hidden, 2)
        self.duration_head = _head(features + 2, c.head_hidden, 1)
        self.pitch_head = _head(features + 3, c.head_hidden, c.num_pitches)

    # -- forward ------------------------------------------------------------------------
    def features(self, window: torch.Tensor) -> torch.Tensor:
        """Shared features of a window: (B, W, 3) long -> (B, 2H) float."""
        c = self.config
        pitch = self.pitch_embedding(window[..., 0])  # (B, W, E)
        is_on = window[..., 1:2].float()  # (B, W, 1)
        delta = window[..., 2:3].float().clamp(0, c.max_delta) / c.max_delta  # (B, W, 1)
        x = self.input_proj(torch.cat([pitch, is_on, delta], dim=-1))  # (B, W, d_model)
        attended, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.attention_norm(x + self.dropout(attended))  # (B, W, d_model)
        hidden, _ = self.lstm(x)  # (B, W, H)
        last = hidden[:, -1]  # (B, H)
        scores = self.attn_score(
            torch.tanh(self.attn_query(last).unsqueeze(1) + self.attn_key(hidden))
        )  # (B, W, 1)
        weights = torch.softmax(scores, dim=1)
        context = (weights * hidden).sum(dim=1)  # (B, H)
        return self.dropout(torch.cat([context, last], dim=-1))  # (B, 2H)

    def predict(self, window: torch.Tensor) -> dict[str, torch.Tensor]:
        """Head outputs for the message after each window.

        Returns ``on_logits`` (B, 2), ``on_probs`` (B, 2), ``duration`` (B,) as
        ``delta / max_delta`` in 0..1 and ``pitch_logits`` (B, num_pitches).
        """
        feats = self.features(window)  # (B, 2H)
        on_logits = self.on_head(feats)  # (B, 2)
        on_probs = torch.softmax(on_logits, dim=-1)
        duration = torch.sigmoid(self.duration_head(torch.cat([feats, on_probs], dim=-1)))
        pitch_logits = self.pitch_head(torch.cat([feats, on_probs, duration], dim=-1))
        return {
            "on_logits": on_logits,
            "on_probs": on_probs,
            "duration": duration.squeeze(-1),  # (B,)
            "pitch_logits": pitch_logits,
        }

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted sum of on/off cross-entropy, duration MSE and pitch cross-entropy."""
        out = self.predict(batch["window"])
        target = batch["target"]  # (B, 3)
        target_pitch, target_on = target[:, 0], target[:, 1]
        target_duration = target[:, 2].float().clamp(0, self.config.max_delta)
        target_duration = target_duration / self.config.max_delta
        on_ce = F.cross_entropy(out["on_logits"], target_on)
        dur_mse = F.mse_loss(out["duration"], target_duration)
        pitch_ce = F.cross_entropy(out["pitch_logits"], target_pitch)
        w_on, w_dur, w_pitch = self.config.loss_weights
        total = w_on * on_ce + w_dur * dur_mse + w_pitch * pitch_ce
        with torch.no_grad():
            on_acc = (out["on_logits"].argmax(-1) == target_on).float().mean()
            pitch_acc = (out["pitch_logits"].argmax(-1) == target_pitch).float().mean()
        metrics = {
            "on_ce": float(on_ce.detach()),
            "dur_mse": float(dur_mse.detach()),
            "pitch_ce": float(pitch_ce.detach()),
            "on_acc": float(on_acc),
            "pitch_acc": float(pitch_acc),
        }
        return total, metrics

    # -- generation ---------------------------------------------------------------------
    def init_state(self, batch_size: int) -> State:
        """No recurrent state is carried: every step re-reads its window."""
        return None

    @torch.no_grad()
    def step(self, inputs: Any, state: State = None, **kwargs: Any) -> tuple[Any, State]:
        """Predict the message after ``inputs``, a (B, W', 3) long window (any ``W' >= 1``).

        The whole window is re-run on every call (self-attention over a sliding window is not
        incremental); the caller appends the sampled message and drops the oldest one.
        Returns ``({"on_probs": (B, 2), "duration": (B,), "pitch_logits": (B, P)}, None)``.
        """
        out = self.predict(inputs)
        return (
            {
                "on_probs": out["on_probs"],
                "duration": out["duration"],
                "pitch_logits": out["pitch_logits"],
            },
            None,
        )

    # -- accounting ---------------------------------------------------------------------
    def flops_per_batch(self, batch: Batch) -> float:
        """Matmul FLOPs of forward + backward (3x forward) for ``batch``."""
        c = self.config
        b, w = batch["window"].shape[:2]
        d, h, a = c.d_model, c.hidden_size, c.attention_dim
        per_message = 2 * (c.pitch_embed_dim + 2) * d  # input projection
        per_message += 2 * 4 * d * d + 2 * 2 * w * d  # q, k, v, out + scores and values
        lstm_in = d
        for _ in range(c.lstm_layers):
            per_message += 2 * 4 * h * (lstm_in + h)
            lstm_in = h
        per_message += 2 * h * a + 2 * a + 2 * h  # keys, scores, weighted sum
        f = 2 * h
        if c.head_hidden:
            k = c.head_hidden
            heads = 2 * k * (3 * f + 5) + 2 * k * (2 + 1 + c.num_pitches)
        else:
            heads = 2 * (f * 2 + (f + 2) + (f + 3) * c.num_pitches)
        per_window = w * per_message + 2 * h * a + heads
        return 3.0 * b * per_window


def build(config: EventsLSTMConfig) -> EventsLSTM:
    """The model for ``config`` (call :func:`config_for` first to match a representation)."""
    return EventsLSTM(config)
