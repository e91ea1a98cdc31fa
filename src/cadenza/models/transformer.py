"""A decoder-only transformer with relative position attention (Music Transformer).

Huang et al. (2018), "Music Transformer: Generating Music with Long-Term Structure": every
attention head adds to its query-key logits a learnt term for the *distance* between the two
tokens, ``S_rel[i, j] = q_i . E_r[j - i]``, and gets it for a whole window in memory linear in
its length by "skewing" ``Q E_r^T`` instead of building a (T, T, D) tensor of embeddings. There
is no absolute position: a window of the piece looks the same wherever it lies, and the
``remi`` tokens (:mod:`cadenza.representations.remi`) carry the bar and the position in it.

::

    token ids (B, T) -> embedding (B, T, D)
    -> N x [pre-LayerNorm -> causal relative self-attention (H heads) -> residual,
            pre-LayerNorm -> Linear(D, F) -> GELU -> Linear(F, D) -> residual]
    -> LayerNorm -> Linear(D, V) tied to the embedding -> next-token logits (B, T, V)

Generation (:meth:`MusicTransformer.step`) keeps every layer's keys and values (a key/value
cache), so each new token costs one query against the cache instead of re-reading the past. The
cache holds at most ``seq_len`` tokens, the training window: past that, the oldest tokens drop
out of it, which relative attention allows because no position is absolute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from cadenza.errors import ConfigError
from cadenza.models.base import Batch, ModelConfig, SequenceModel, State, check_probability
from cadenza.representations.remi import RemiConfig, TokenLayout

__all__ = ["PRESETS", "MusicTransformer", "TransformerConfig", "build", "config_for"]

DEFAULT_VOCAB = TokenLayout.of(RemiConfig()).size  # token ids of the default ``remi``
KeyValue = tuple[torch.Tensor, torch.Tensor]  # keys, values (B, H, S, Dh) of one layer


@dataclass
class TransformerConfig(ModelConfig):
    """Sizes of the transformer and the shape of its training data.

    Attributes:
        batch_size: windows per training batch.
        seq_len: tokens per training window, also the longest distance attention sees.
        transpose_range: inclusive semitone range of training transposition; ``(0, 0)`` off.
        vocab_size: token ids (set from the representation by :func:`config_for`; the
            default is that of the default ``remi`` configuration).
        d_model: width of every token vector.
        num_layers: transformer blocks.
        num_heads: attention heads per block (must divide ``d_model``).
        d_ff: width of each block's feed-forward layer.
        dropout: dropout on attention weights, block outputs and the embedding.
        primer_tokens: default primer length in tokens.
        generate_tokens: default number of generated tokens.
    """

    family: ClassVar[str] = "transformer"
    positive_fields: ClassVar[tuple[str, ...]] = (
        "batch_size", "seq_len", "vocab_size", "d_model", "num_layers", "num_heads", "d_ff",
        "primer_tokens", "generate_tokens",
    )

    batch_size: int = 16
    seq_len: int = 512
    transpose_range: tuple[int, int] = (-3, 3)
    vocab_size: int = DEFAULT_VOCAB
    d_model: int = 256
    num_layers: int = 4
    num_heads: int = 8
    d_ff: int = 1024
    dropout: float = 0.1
    primer_tokens: int = 64
    generate_tokens: int = 1024

    def __post_init__(self) -> None:
        for name in self.positive_fields:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an int, got {value!r}")
        super().__post_init__()
        if self.d_model % self.num_heads:
            raise ConfigError(
                f"num_heads ({self.num_heads}) must divide d_model ({self.d_model})")
        check_probability("dropout", self.dropout)


PRESETS: dict[str, TransformerConfig] = {
    # The size class of Huang et al.'s Piano-e-Competition model (6 blocks of 512 with 8
    # heads over windows of 2048 tokens); far too slow to train on two CPU cores.
    "transformer-paper": TransformerConfig(
        batch_size=8, seq_len=2048, d_model=512, num_layers=6, num_heads=8, d_ff=2048,
        dropout=0.1, primer_tokens=256, generate_tokens=2048,
    ),
    # Trains on one CPU core: about 0.94M parameters, windows of 256 tokens (3-8 bars of
    # piano music).
    "transformer-small": TransformerConfig(
        batch_size=16, seq_len=256, d_model=128, num_layers=4, num_heads=4, d_ff=512,
        dropout=0.1, primer_tokens=64, generate_tokens=1024,
    ),
    "transformer-debug": TransformerConfig(
        batch_size=4, seq_len=32, d_model=16, num_layers=1, num_heads=2, d_ff=32,
        dropout=0.0, transpose_range=(0, 0), primer_tokens=8, generate_tokens=32,
    ),
}


class _TokensLike(Protocol):
    @property
    def vocab_size(self) -> int: ...


def config_for(config: TransformerConfig, representation: _TokensLike) -> TransformerConfig:
    """Copy of ``config`` with the representation's number of token ids."""
    return replace(config, vocab_size=int(representation.vocab_size))


def skew(rel_logits: torch.Tensor) -> torch.Tensor:
    """Huang et al.'s skewing: ``(..., T, T)`` logits of query ``i`` against the relative
    distances ``-(T-1) .. 0`` (column ``c`` is distance ``c - T + 1``) -> logits of query ``i``
    against key ``j`` (distance ``j - i``), valid where ``j <= i``."""
    *lead, t, _ = rel_logits.shape
    padded = F.pad(rel_logits, (1, 0))  # (..., T, T + 1)
    return padded.reshape(*lead, t + 1, t)[..., 1:, :]


class RelativeSelfAttention(nn.Module):
    """Causal multi-head self-attention with learnt relative position logits."""

    def __init__(self, d_model: int, num_heads: int, max_distance: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.max_distance = max_distance
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        # Row r holds distance r - (max_distance - 1): the last row is distance 0.
        self.relative = nn.Parameter(
            torch.randn(num_heads, max_distance, self.head_dim) / math.sqrt(self.head_dim))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, cache: KeyValue | None = None
                ) -> tuple[torch.Tensor, KeyValue]:
        """``x`` (B, T, D) -> (B, T, D) and the keys and values to keep.

        Without ``cache`` the T tokens attend causally among themselves (training, or
        reading a primer). With a cache of earlier tokens, ``x`` must be one new token.
        """
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).permute(
            2, 0, 3, 1, 4)  # each (B, H, T, Dh)
        if cache is None:
            if t > self.max_distance:
                raise ConfigError(
                    f"a window of {t} tokens is longer than the {self.max_distance} the "
                    f"relative attention was built for")
            rel = torch.einsum("bhtd,hrd->bhtr", q, self.relative[:, -t:])  # (B, H, T, T)
            causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            mask = skew(rel).masked_fill(~causal, float("-inf"))
        else:
            if t != 1:
                raise ConfigError(f"a cached step takes one token, got {t}")
            k = torch.cat([cache[0], k], dim=2)[:, :, -self.max_distance:]
            v = torch.cat([cache[1], v], dim=2)[:, :, -self.max_distance:]
            keys = k.shape[2]
            mask = torch.einsum("bhtd,hrd->bhtr", q, self.relative[:, -keys:])  # (B, H, 1, S)
        # softmax((Q K^T + S_rel) / sqrt(Dh)): SDPA scales Q K^T and adds the mask as given.
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=(mask / math.sqrt(self.head_dim)).to(q.dtype),
            dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(b, t, d)
        return self.out(y), (k, v)


class Block(nn.Module):
    """Pre-LayerNorm transformer block: relative self-attention, then a GELU feed-forward."""

    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(c.d_model)
        self.attention = RelativeSelfAttention(c.d_model, c.num_heads, c.seq_len, c.dropout)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(c.d_model, c.d_ff), nn.GELU(), nn.Linear(c.d_ff, c.d_model))
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor, cache: KeyValue | None = None
                ) -> tuple[torch.Tensor, KeyValue]:
        attended, kept = self.attention(self.norm1(x), cache)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.feed_forward(self.norm2(x)))
        return x, kept


class MusicTransformer(SequenceModel):
    """Next-token model over ``remi`` token ids.

    Batches (from :class:`cadenza.data.batching.remi.RemiBatchMaker`):
        ``inputs``: (B, T) long token ids; ``targets``: (B, T) long, the next tokens.
    """

    family: ClassVar[str] = "transformer"
    representation: ClassVar[str] = "remi"
    config: TransformerConfig

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.embed_dropout = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.num_layers))
        self.norm = nn.LayerNorm(c.d_model)

    def _run(self, tokens: torch.Tensor, cache: list[KeyValue] | None
             ) -> tuple[torch.Tensor, list[KeyValue]]:
        """tokens (B, T) -> logits (B, T, V) and every layer's keys and values."""
        x = self.embed_dropout(self.embedding(tokens))  # (B, T, D)
        kept = []
        for index, block in enumerate(self.blocks):
            x, layer_cache = block(x, None if cache is None else cache[index])
            kept.append(layer_cache)
        logits = F.linear(self.norm(x), self.embedding.weight)  # tied output layer
        return logits, kept

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy of the next token, averaged over every position of the batch."""
        logits, _ = self._run(batch["inputs"], None)
        targets = batch["targets"]
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == targets).float().mean()
        return ce, {"token_ce": float(ce.detach()), "token_acc": float(accuracy)}

    def summed_cost_terms(self, batch: Batch) -> float:
        return float(batch["targets"].numel())

    # -- generation ---------------------------------------------------------------------
    def init_state(self, batch_size: int) -> State:
        """No tokens read yet: an empty key/value cache."""
        return None

    @torch.no_grad()
    def step(self, inputs: Any, state: State, **kwargs: Any) -> tuple[Any, State]:
        """Read tokens and return the logits of the next one.

        ``inputs``: (B,) long, one new token per sequence, or (B, T) long to read a primer
        from an empty cache (``state=None``). Returns ``({"logits": (B, V)}, cache)``.
        """
        tokens = inputs if inputs.dim() == 2 else inputs[:, None]
        if state is not None and tokens.shape[1] != 1:
            raise ConfigError("with a cache, step() reads one token per sequence")
        if state is None and tokens.shape[1] > self.config.seq_len:
            tokens = tokens[:, -self.config.seq_len:]  # the window the model was trained on
        logits, cache = self._run(tokens, state)
        return {"logits": logits[:, -1].float()}, cache

    # -- accounting ---------------------------------------------------------------------
    def flops_per_batch(self, batch: Batch) -> float:
        """Matmul FLOPs of forward + backward (3x forward) for ``batch``."""
        c = self.config
        b, t = batch["inputs"].shape[:2]
        per_token = c.num_layers * (2 * 4 * c.d_model * c.d_model + 2 * 2 * c.d_model * c.d_ff
                                    + 3 * 2 * t * c.d_model)  # qkv+out, ffn, QK, rel, AV
        per_token += 2 * c.d_model * c.vocab_size
        return 3.0 * b * t * per_token


def build(config: TransformerConfig) -> MusicTransformer:
    """The model for ``config`` (call :func:`config_for` first to match a representation)."""
    return MusicTransformer(config)
