"""How many values one training step keeps for the backward pass, per model family.

Each function takes a model config and returns an estimate of the float32 values autograd
saves during one teacher-forced training step on a full batch (``batch_size`` windows of
``seq_len`` steps): the batch itself, every layer's inputs and outputs, the LSTM gates, the
attention weights. Each family's record names its function (:mod:`cadenza.families`), and
:mod:`cadenza.budget` turns the count into bytes before anything is allocated.

The constants come from measuring the saved tensors of one training step of the debug and
small presets (``tests/test_budget.py`` holds every estimate within a factor of two of such
a measurement; most are within 25%); what matters is the order of magnitude, which a wrong
setting changes by thousands.
"""

from __future__ import annotations

from typing import Any

# Values an LSTM layer keeps per sequence step for its backward pass: the fused CPU kernel's
# workspace holds the gates, cells and states, its rows as wide as the wider of input and
# hidden (measured: within 10% of 2 * inputs + 5.5 * max(inputs, hidden) + 12 * hidden
# over inputs and hidden sizes from 1 to 512).
LSTM_PER_INPUT = 2.0
LSTM_PER_WIDEST = 5.5
LSTM_PER_UNIT = 12.0
# Values a transformer block keeps per model unit and token (norms, q/k/v, the attention's
# output, the residuals) and per feed-forward unit and token (both sides of the GELU).
BLOCK_SAVED_PER_UNIT = 10
FEED_FORWARD_SAVED = 3
# Values kept per attention weight (the relative logits, the scaled mask, the softmax).
ATTENTION_SAVED = 3
# Biaxial inputs: note-state features per note and step (see cadenza.models.biaxial).
BIAXIAL_FEATURES = 80


def _lstm_stack(inputs: int, sizes: tuple[int, ...]) -> float:
    """Values per sequence step kept by stacked LSTM layers reading ``inputs`` values."""
    total, width = 0.0, inputs
    for hidden in sizes:
        total += (LSTM_PER_INPUT * width + LSTM_PER_WIDEST * max(width, hidden)
                  + LSTM_PER_UNIT * hidden)
        width = hidden
    return total


def biaxial(config: Any) -> float:
    """Time axis over every (window, note), then note axis over every (window, step)."""
    cells = config.batch_size * config.seq_len * config.num_notes
    time_axis = _lstm_stack(BIAXIAL_FEATURES, tuple(config.time_sizes))
    note_axis = _lstm_stack(config.time_sizes[-1] + config.note_inputs, tuple(config.note_sizes))
    heads = 16 + 2 * int(config.velocity_bins)
    return float(cells) * (time_axis + note_axis + heads)


def pianoroll(config: Any) -> float:
    """Stacked LSTM over frames of ``num_keys`` keys, a sigmoid output per key."""
    frames = config.batch_size * config.seq_len
    sizes = tuple(config.hidden_sizes)
    return float(frames) * (_lstm_stack(config.num_keys, sizes) + sum(sizes) + 8 * config.num_keys)


def events(config: Any) -> float:
    """Self-attention over each window of messages, an LSTM, additive attention, heads."""
    messages = config.batch_size * config.seq_len
    per_message = (config.pitch_embed_dim + 2 + 8 * config.d_model
                   + _lstm_stack(config.d_model, (config.hidden_size,) * config.lstm_layers)
                   + 3 * config.attention_dim + config.hidden_size)
    attention = ATTENTION_SAVED * config.num_heads * config.seq_len
    heads = 4 * (2 * config.hidden_size + config.head_hidden + config.num_pitches)
    return float(messages) * (per_message + attention) + float(config.batch_size) * heads


def notetokens(config: Any) -> float:
    """Three embeddings, stacked LSTM, a dense layer and three softmax heads per token."""
    tokens = config.batch_size * config.seq_len
    embed = config.element_embed_dim + config.duration_embed_dim + config.shift_embed_dim
    heads = 3 * (config.num_elements + config.num_durations + config.num_shifts)
    per_token = (embed + _lstm_stack(embed, (config.hidden_size,) * config.num_layers)
                 + 2 * config.hidden_size + 3 * config.dense_size + heads)
    return float(tokens) * per_token


def transformer(config: Any) -> float:
    """Blocks of causal relative self-attention and feed-forward; a tied output layer."""
    tokens = config.batch_size * config.seq_len
    per_block = (BLOCK_SAVED_PER_UNIT * config.d_model + FEED_FORWARD_SAVED * config.d_ff
                 + ATTENTION_SAVED * config.num_heads * config.seq_len)
    per_token = 2 * config.d_model + config.num_layers * per_block + 3 * config.vocab_size
    return float(tokens) * per_token
