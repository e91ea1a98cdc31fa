"""Infilling: compose bars A..B of a given piece again and keep everything else as it was.

The grid models only see the past, so the gap is filled forward: the piece up to bar A is the
primer, the gap is sampled freely, and every step after bar B is clamped to the piece (a
prior of weight 0, :mod:`cadenza.generation.plan`). ``candidates`` gaps are sampled as one
batch, and the one under which the model finds the rest of the piece most likely (the log
probability of its play bits after bar B, from the probabilities the sampler drew from)
is kept. The result holds the piece's own notes outside the gap unchanged, and the chosen
candidate's notes that start inside the gap, cut at its end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from cadenza.errors import ConfigError
from cadenza.generation.base import GenerationConfig
from cadenza.generation.plan import Plan, StepPrior, combine, for_batch
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation
from cadenza.score import Score, sort_notes

__all__ = ["ClampAfter", "infill", "parse_bars"]


def parse_bars(text: str) -> tuple[int, int]:
    """``"5-8"`` -> (5, 8): 1-based bars, inclusive; ``"5"`` is one bar."""
    first, sep, last = text.strip().partition("-")
    try:
        a, b = int(first), int(last) if sep else int(first)
    except ValueError:
        raise ConfigError(f"bars to infill must look like 5-8, got {text!r}") from None
    if not 1 <= a <= b:
        raise ConfigError(f"bars to infill must be 1 <= A <= B, got {text!r}")
    return a, b


@dataclass
class ClampAfter(Plan):
    """From generated step ``start`` on, play exactly ``states`` (the rest of the piece)."""

    start: int
    states: np.ndarray  # (L, N, C) the piece after the gap

    def step(self, index: int, generated: Sequence[np.ndarray]) -> StepPrior | None:
        offset = index - self.start
        if offset < 0 or offset >= len(self.states):
            return None
        state = np.asarray(self.states[offset], dtype=np.float32)
        if state.ndim == 1:  # a piano-roll frame: play only
            state = np.stack([state, state], axis=-1)
        return StepPrior(prior=for_batch(state[..., :2], generated), prior_weight=0.0)


def infill(model: SequenceModel, representation: Representation, score: Score,
           bars: tuple[int, int], config: GenerationConfig, candidates: int = 4,
           plan: Plan | None = None) -> tuple[Score, dict[str, float]]:
    """``score`` (quantised to the model's grid, 4/4) with bars ``bars`` composed again.

    Returns the new score (tick 0 = the piece's tick 0) and what was measured: the chosen
    candidate, and the log-likelihood (nats) of the rest of the piece under each.
    """
    from cadenza.generation import generate

    bar = 4 * representation.config.steps_per_quarter
    whole = representation.encode(score)
    first, last = bars
    start, stop = (first - 1) * bar, last * bar
    if first < 2:
        raise ConfigError("infilling needs at least one bar of the piece before the gap")
    if stop > len(whole):
        raise ConfigError(f"the piece has {int(np.ceil(len(whole) / bar))} bars; cannot "
                          f"infill bars {first}-{last}")
    if not 1 <= candidates <= 64:
        raise ConfigError(f"candidates must be in 1..64, got {candidates}")
    after = whole[stop:]
    gap = stop - start
    length = gap + len(after)
    clamp = ClampAfter(gap, after) if len(after) else None
    settings = replace(config, length=length, count=candidates, first_step=0,
                       plan=combine(plan, clamp))
    result = generate(model, representation, whole[:start], settings)
    scores = []
    for probabilities in result.probabilities or []:
        p = np.clip(np.asarray(probabilities[gap:], dtype=np.float64), 1e-7, 1 - 1e-7)
        x = np.asarray(after[..., 0] if after.ndim == 3 else after, dtype=np.float64)
        scores.append(float((x * np.log(p) + (1 - x) * np.log1p(-p)).sum()))
    best = int(np.argmax(scores)) if scores else 0
    filled = representation.decode(result.arrays[best]).notes
    inside = (filled["start"] >= start) & (filled["start"] < stop)
    new = filled[inside].copy()
    new["duration"] = np.minimum(new["start"] + new["duration"], stop) - new["start"]
    kept = score.notes[(score.notes["start"] < start) | (score.notes["start"] >= stop)]
    out = score.copy_with(notes=sort_notes(np.concatenate([kept, new])))
    stats = {"chosen_candidate": float(best), **{f"candidate_{i}_loglik": s
                                                 for i, s in enumerate(scores)}}
    return out, stats
