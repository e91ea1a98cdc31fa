"""Generation for the transformer over ``remi`` tokens, with a key/value cache.

The primer is read in one pass; after that every new token is one query against the cached
keys and values of the tokens before it (:meth:`cadenza.models.transformer.MusicTransformer.step`).

Tokens are sampled from the model's distribution restricted to what can come next in a
``remi`` stream, so every generated sequence decodes to the notes it spells:

* after ``BAR``: another ``BAR``, ``END`` or any position;
* after a position: a pitch; after a pitch: its velocity (when the representation has
  velocities), then its duration;
* after a duration: a higher pitch at the same onset, a later position in the bar, ``BAR`` or
  ``END``;
* after ``END``: nothing (the piece is over; further tokens are ``END``).

Sampling honours temperature, top-k and top-p; the key and range controls weight the pitch
tokens; ``max_repeats`` forbids the same pitch more than that many times in a row. With
``config.bars`` a piece ends (``END``) at the bar line that many bars after the primer.
"""

from __future__ import annotations

import numpy as np
import torch

from cadenza.errors import DataError
from cadenza.generation.base import GenerationConfig, GenerationResult
from cadenza.generation.token_ending import TokenEnding
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation
from cadenza.representations.remi import (
    BAR,
    END,
    KIND_BAR,
    KIND_DUR,
    KIND_END,
    KIND_PITCH,
    KIND_POS,
    KIND_VEL,
    Remi,
)
from cadenza.sampling import categorical, log_weights

__all__ = ["generate_transformer"]

BLOCKED = -1e9  # logit of a token that may not come next


class _Grammar:
    """Which token ids may follow, per sequence, as the stream is written."""

    def __init__(self, rep: Remi, count: int) -> None:
        lay = rep.layout
        self.rep = rep
        self.kind_of = torch.from_numpy(rep.layout.kinds().astype(np.int64))
        ids = torch.arange(lay.size)
        self.position_of = (ids - lay.position).clamp(min=-1)  # meaningful for POS ids
        self.pitch_of = (ids - lay.pitch).clamp(min=-1)  # meaningful for PITCH ids
        self.has_velocity = lay.velocities > 0
        self.last_kind = torch.full((count,), KIND_BAR, dtype=torch.long)
        self.position = torch.full((count,), -1, dtype=torch.long)  # -1: none since BAR
        self.last_pitch = torch.full((count,), -1, dtype=torch.long)  # at this onset
        self.bar = torch.full((count,), -1, dtype=torch.long)

    def read(self, tokens: torch.Tensor) -> None:
        """Advance the state of every sequence by one token each, (B,) long."""
        kind = self.kind_of[tokens]
        is_bar, is_pos, is_pitch = kind == KIND_BAR, kind == KIND_POS, kind == KIND_PITCH
        self.bar = torch.where(is_bar, self.bar + 1, self.bar)
        self.position = torch.where(is_bar, -1, torch.where(
            is_pos, self.position_of[tokens], self.position))
        self.last_pitch = torch.where(is_bar | is_pos, -1, torch.where(
            is_pitch, self.pitch_of[tokens], self.last_pitch))
        self.last_kind = kind

    def allowed(self) -> torch.Tensor:
        """(B, V) bool: the ids each sequence may write next."""
        kind = self.kind_of[None, :]  # (1, V)
        last = self.last_kind[:, None]  # (B, 1)
        later_position = (kind == KIND_POS) & (self.position_of[None, :] > self.position[:, None])
        higher_pitch = (kind == KIND_PITCH) & (self.pitch_of[None, :] > self.last_pitch[:, None])
        closing = (kind == KIND_BAR) | (kind == KIND_END)
        after_bar = closing | (kind == KIND_POS)
        after_duration = closing | later_position | higher_pitch
        after_pitch = kind == (KIND_VEL if self.has_velocity else KIND_DUR)
        allowed = torch.where(last == KIND_BAR, after_bar, torch.zeros_like(after_bar))
        allowed = torch.where(last == KIND_POS, kind == KIND_PITCH, allowed)
        allowed = torch.where(last == KIND_PITCH, after_pitch, allowed)
        allowed = torch.where(last == KIND_VEL, kind == KIND_DUR, allowed)
        allowed = torch.where(last == KIND_DUR, after_duration, allowed)
        return torch.where(last == KIND_END, kind == KIND_END, allowed)


def ending_biases(ending: TokenEnding, rep: Remi) -> torch.Tensor:
    """(3, V) logit biases of a cadence on the pitch tokens, one row per phase of the ending
    (none, dominant, tonic)."""
    lay, low = rep.layout, rep.config.low
    biases = torch.zeros(3, rep.vocab_size)
    for phase, table in enumerate(ending.tables(), start=1):
        biases[phase, lay.pitch:lay.pitch + lay.pitches] = log_weights(
            table[low:low + lay.pitches])
    return biases


def _primer(primer: np.ndarray | None) -> np.ndarray:
    if primer is None or len(primer) == 0:
        return np.array([BAR], dtype=np.int64)  # no primer: start at a bar line
    primer = np.asarray(primer)
    if primer.ndim != 1:
        raise DataError(f"transformer primer must be a 1-D array of token ids, got shape "
                        f"{primer.shape}")
    return primer.astype(np.int64)


def generate_transformer(
    model: SequenceModel,
    representation: Representation,
    primer: np.ndarray | None,
    config: GenerationConfig,
) -> GenerationResult:
    """Continue a ``remi`` primer (``(T0,)`` token ids; ``None``: a bar line) by at most
    ``config.length`` tokens, or until ``config.bars`` bars are written."""
    if not isinstance(representation, Remi):
        raise DataError(f"the transformer writes remi tokens, not {representation.name}")
    primer = _primer(primer)
    rep = representation
    representation.kinds(primer)  # refuses ids outside the vocabulary
    b, t0 = config.count, len(primer)
    device = next(model.parameters()).device
    gen = config.generator()
    grammar = _Grammar(rep, b)
    for token in primer:  # the grammar state at the end of the primer
        grammar.read(torch.full((b,), int(token), dtype=torch.long))
    spb = rep.config.steps_per_bar
    start_tick = rep.onset_tick(primer, t0 - 1)
    stop_bar = None if config.bars is None else (start_tick + config.bars * spb - 1) // spb + 1
    pitch_bias = torch.zeros(rep.vocab_size)
    if config.pitch_weights is not None:  # key and range, on the pitch tokens
        lay, low = rep.layout, rep.config.low
        pitch_bias[lay.pitch:lay.pitch + lay.pitches] = log_weights(
            config.pitch_weights.for_notes(low, lay.pitches))
    endings = ending_biases(config.ending, rep) if config.ending is not None else None
    run_pitch = torch.full((b,), -1, dtype=torch.long)
    run_length = torch.zeros(b, dtype=torch.long)
    repeats_broken = 0
    outputs, cache = model.step(torch.from_numpy(np.repeat(primer[None], b, 0)).to(device), None)
    written: list[torch.Tensor] = []
    for done in range(config.length):
        config.report(done, config.length)
        logits = outputs["logits"].cpu().float() + pitch_bias
        if endings is not None and config.ending is not None:  # by bar, else tokens left
            phases = ([config.ending.phase_in_bar(bar, stop_bar) for bar in grammar.bar.tolist()]
                      if stop_bar is not None else config.ending.phase_at(done, config.length))
            logits = logits + endings[phases]
        logits = logits.masked_fill(~grammar.allowed(), BLOCKED)
        if config.max_repeats:
            stuck = run_length >= config.max_repeats
            if bool(stuck.any()):
                rows = torch.nonzero(stuck).squeeze(-1)
                repeats_broken += len(rows)
                logits[rows, rep.layout.pitch + run_pitch[rows]] = BLOCKED
        token = categorical(logits, temperature=config.temperature, top_k=config.top_k,
                            top_p=config.top_p, generator=gen)
        if stop_bar is not None:  # the bar line after the last asked-for bar ends the piece
            token = torch.where((token == BAR) & (grammar.bar + 1 >= stop_bar), END, token)
        is_pitch = grammar.kind_of[token] == KIND_PITCH
        pitch = grammar.pitch_of[token]
        run_length = torch.where(is_pitch, torch.where(pitch == run_pitch, run_length + 1, 1),
                                 run_length)
        run_pitch = torch.where(is_pitch, pitch, run_pitch)
        grammar.read(token)
        written.append(token)
        if bool((grammar.last_kind == KIND_END).all()):
            break
        outputs, cache = model.step(token.to(device), cache)
    config.report(config.length, config.length)
    new = torch.stack(written, dim=1) if written else torch.zeros((b, 0), dtype=torch.long)
    arrays = []
    for row in new:
        ended = torch.nonzero(row == END)
        row = row[: int(ended[0]) + 1] if len(ended) else row  # nothing after END
        arrays.append(np.concatenate([primer, row.numpy()]).astype(np.int32))
    return GenerationResult(arrays=arrays, primer_length=t0,
                            stats={"repeats_broken": repeats_broken})
