"""Sampling rules shared by every model: pure functions over probability tensors.

* :func:`bernoulli` with temperature, conservativity and a probability threshold (the
  biaxial and piano-roll models' independent note bits);
* :class:`AdaptiveSilence`: the biaxial ``gen_adaptive`` anti-silence rule;
* :func:`categorical` with temperature, top-k and top-p (event and token models).

Every function takes an optional ``torch.Generator`` so a fixed seed reproduces a piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cadenza.errors import ConfigError

EPS = 1e-7


def apply_temperature_bits(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Sharpen (T < 1) or flatten (T > 1) independent Bernoulli probabilities.

    ``p' = sigmoid(logit(p) / T)``; ``T = 1`` returns ``probs`` unchanged.
    """
    if temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    if temperature == 1.0:
        return probs
    logits = torch.logit(probs.clamp(EPS, 1 - EPS))
    return torch.sigmoid(logits / temperature)


def bernoulli(
    probs: torch.Tensor,
    *,
    temperature: float = 1.0,
    conservativity: torch.Tensor | float = 1.0,
    threshold: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw 0/1 bits with probability ``probs`` (any shape).

    Args:
        temperature: see :func:`apply_temperature_bits`.
        conservativity: the biaxial exponent: a bit is on when ``U < p ** conservativity``;
            a tensor broadcast against ``probs`` (one value per batch row) or a float.
        threshold: probabilities below it never fire (the piano-roll rule, default 0.1 there).
            It applies after the conservativity, so the anti-silence rule, which lowers the
            exponent while too few notes play, also lifts probabilities over the threshold
            (otherwise a model whose note starts all lie under it stays silent for good).
    """
    if not 0 <= threshold < 1:
        raise ConfigError(f"threshold must be in [0, 1), got {threshold}")
    p = apply_temperature_bits(probs, temperature)
    if not isinstance(conservativity, float) or conservativity != 1.0:
        p = p.clamp_min(0) ** conservativity
    if threshold > 0:
        p = torch.where(p < threshold, torch.zeros_like(p), p)
    u = torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype)
    return (u < p).to(probs.dtype)


@dataclass
class AdaptiveSilenceConfig:
    """Parameters of the anti-silence rule (defaults are the biaxial original's).

    After a step where fewer than ``min_notes`` notes play, the conservativity is reset to 1
    if it was above 1, then lowered by ``step`` (notes become likelier, since ``p ** c`` grows
    as ``c`` falls); after a step with enough notes it relaxes toward 1 by ``relax`` of the
    gap. ``floor`` keeps it positive.
    """

    min_notes: int = 2
    step: float = 0.02
    relax: float = 0.3
    floor: float = 0.05

    def __post_init__(self) -> None:
        if self.min_notes < 0:
            raise ConfigError(f"min_notes must be >= 0, got {self.min_notes}")
        if not 0 < self.step < 1:
            raise ConfigError(f"step must be in (0, 1), got {self.step}")
        if not 0 <= self.relax <= 1:
            raise ConfigError(f"relax must be in [0, 1], got {self.relax}")
        if not 0 < self.floor <= 1:
            raise ConfigError(f"floor must be in (0, 1], got {self.floor}")


class AdaptiveSilence:
    """Tracks one conservativity value per batch row and updates it after every step."""

    def __init__(self, batch_size: int, config: AdaptiveSilenceConfig | None = None,
                 enabled: bool = True) -> None:
        self.config = config or AdaptiveSilenceConfig()
        self.enabled = enabled
        self.conservativity = torch.ones(batch_size)
        self.boosted_steps = 0  # steps at which at least one row was below min_notes

    def exponent(self, ndim: int) -> torch.Tensor:
        """Conservativity shaped to broadcast over ``(B, ...)`` with ``ndim`` dims in all."""
        return self.conservativity.view(-1, *([1] * (ndim - 1)))

    def take_rows(self, index: np.ndarray) -> None:
        """Row ``i`` continues from row ``index[i]`` (rhythm copy's choice of candidates)."""
        self.conservativity = self.conservativity[torch.from_numpy(index)]

    def update(self, notes_playing: torch.Tensor) -> None:
        """Update after a step; ``notes_playing`` is (B,) counts of notes played this step."""
        if not self.enabled:
            return
        cfg = self.config
        quiet = notes_playing.to(self.conservativity.device) < cfg.min_notes
        c = self.conservativity
        lowered = torch.where(c > 1, torch.ones_like(c), c) - cfg.step
        relaxed = c + (1 - c) * cfg.relax
        self.conservativity = torch.where(quiet, lowered.clamp_min(cfg.floor), relaxed)
        if bool(quiet.any()):
            self.boosted_steps += 1


class Density:
    """The two-sided anti-silence rule: keeps the note onsets per beat within ``(low, high)``.

    With a band the one-sided rule (:class:`AdaptiveSilence`) is off: the band's low edge
    takes its place. On the shipped biaxial model (8 bars, seed 4) bands of 0.5..1, 1..2,
    3..4 and 5..8 onsets per beat gave 1.1, 2.1, 4.3 and 5.9 (2.9 without a band).

    It keeps a factor per batch row multiplying the conservativity exponent (``p ** c``):
    after a step where the onsets of the last ``window`` steps, per beat, are above ``high``
    the factor grows by ``step`` (notes become rarer), below ``low`` it shrinks, in between it
    relaxes toward 1 by ``relax`` of the gap. ``enabled=False`` keeps it at 1.
    """

    def __init__(self, batch_size: int, band: tuple[float, float] | None, steps_per_beat: int,
                 window_beats: int = 2, step: float = 0.1, relax: float = 0.3) -> None:
        if band is not None and not 0 <= band[0] <= band[1]:
            raise ConfigError(f"density must be LOW..HIGH with 0 <= LOW <= HIGH, got {band}")
        self.band = band
        self.window = max(1, window_beats * steps_per_beat)
        self.steps_per_beat = steps_per_beat
        self.step, self.relax = step, relax
        self.factor = torch.ones(batch_size)
        self.recent: list[torch.Tensor] = []
        self.adjusted_steps = 0

    def exponent(self, ndim: int) -> torch.Tensor:
        """The factor shaped to broadcast over ``(B, ...)`` with ``ndim`` dims in all."""
        return self.factor.view(-1, *([1] * (ndim - 1)))

    def take_rows(self, index: np.ndarray) -> None:
        """Row ``i`` continues from row ``index[i]`` (rhythm copy's choice of candidates)."""
        rows = torch.from_numpy(index)
        self.factor = self.factor[rows]
        self.recent = [onsets[rows] for onsets in self.recent]

    def update(self, onsets: torch.Tensor) -> None:
        """After a step; ``onsets`` is (B,) notes that started at it."""
        if self.band is None:
            return
        self.recent = [*self.recent[-(self.window - 1):], onsets.float()]
        rate = torch.stack(self.recent).sum(0) / (len(self.recent) / self.steps_per_beat)
        low, high = self.band
        f = self.factor
        rising = f * (1 + self.step)
        falling = f * (1 - self.step)
        relaxed = f + (1 - f) * self.relax
        self.factor = torch.where(rate > high, rising,
                                  torch.where(rate < low, falling, relaxed)).clamp(0.05, 20.0)
        if bool(((rate > high) | (rate < low)).any()):
            self.adjusted_steps += 1


def parse_density(text: str) -> tuple[float, float]:
    """``"2..4"`` (or ``"2-4"``) notes per beat -> (2.0, 4.0)."""
    parts = text.replace("..", "-").split("-")
    try:
        low, high = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        raise ConfigError(f"density must look like 2..4 (notes per beat), got {text!r}") from None
    if len(parts) != 2 or not 0 <= low <= high:
        raise ConfigError(f"density must be LOW..HIGH with 0 <= LOW <= HIGH, got {text!r}")
    return low, high


def log_weights(weights: np.ndarray) -> torch.Tensor:
    """Logit biases from per-choice weights in [0, 1]: ``log(w)``, and a very large negative
    number where ``w`` is 0 (never chosen)."""
    w = torch.from_numpy(np.asarray(weights, dtype=np.float32))
    return torch.where(w > 0, torch.log(w.clamp_min(1e-30)), torch.full_like(w, -1e9))


def categorical(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample one index per row of ``logits`` (..., V) -> (...) long.

    ``temperature`` divides the logits; ``top_k > 0`` keeps the k largest; ``top_p < 1``
    keeps the smallest set of most likely entries whose mass reaches ``top_p``.
    """
    if temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    if top_k < 0:
        raise ConfigError(f"top_k must be >= 0, got {top_k}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"top_p must be in (0, 1], got {top_p}")
    scaled = logits.float() / temperature
    if top_k and top_k < scaled.shape[-1]:
        kth = torch.topk(scaled, top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        drop_sorted = cumulative - torch.softmax(sorted_logits, dim=-1) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        scaled = scaled.masked_fill(drop, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    picks = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
    return picks.reshape(probs.shape[:-1])


def snap_to_values(values: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Replace each entry of ``values`` by the nearest entry of the 1-D tensor ``allowed``."""
    distance = (values.unsqueeze(-1) - allowed.to(values.dtype)).abs()
    return allowed[distance.argmin(dim=-1)]
