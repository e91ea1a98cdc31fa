"""Loudness across a piece: a memory of the recent level, and a drift from bar to bar.

A biaxial model with a dynamics output draws the velocity bin of every note it starts from
what its time axis knows, and its time axis reads which notes sound, never how loud they
were. So each note's loudness is drawn afresh: measured on the valid split, the spread of
velocities comes out wider than in real music and the level from bar to bar flatter, and the
classifier of ``benchmarks/realism.py`` leans on both.

:class:`LoudnessMemory` keeps, per piece, the recent level: the mean velocity bin of the
notes started so far, each weighted by ``0.5 ** (age / half_life_steps)``; the primer's notes
count too. A note's bin ``b`` is then drawn from the model's distribution times
``exp(-((b - level) / width) ** 2 / 2)``: ``width`` is in bins, smaller is steadier, 0 (the
default) is off, and a piece that has started no note yet draws from the model alone.
"""

from __future__ import annotations

import numpy as np
import torch

from cadenza.errors import check_number

__all__ = ["LoudnessDrift", "LoudnessMemory", "check_velocity_drift", "check_velocity_memory"]

MAX_WIDTH = 16.0
MAX_DRIFT = 4.0
DRIFT_CORRELATION = 0.6  # of the bar-to-bar level, as in the training split's pieces
_DRIFT_STREAM = 0x10D  # the drift's own random stream next to the piece's seed


def check_velocity_memory(width: float) -> float:
    """A loudness-memory width in bins, in [0, 16] (0: off), else ConfigError naming it."""
    return check_number("velocity_memory", width, 0.0, MAX_WIDTH,
                        f"a number of velocity bins in 0..{MAX_WIDTH:g}")


def check_velocity_drift(sd: float) -> float:
    """A loudness drift's standard deviation in [0, 4] (0: off), else ConfigError naming it."""
    return check_number("velocity_drift", sd, 0.0, MAX_DRIFT, f"a number in 0..{MAX_DRIFT:g}")


class LoudnessMemory:
    """The recent velocity level of each of ``rows`` pieces and the weights it gives bins."""

    def __init__(self, width: float, rows: int, bins: int, half_life_steps: float = 16.0) -> None:
        self.width = check_velocity_memory(width)
        self.decay = 0.5 ** (1.0 / half_life_steps)
        self.sums = torch.zeros(rows, dtype=torch.float64)
        self.counts = torch.zeros(rows, dtype=torch.float64)
        self.bins = torch.arange(1, bins + 1, dtype=torch.float64)

    def weights(self) -> torch.Tensor:
        """(rows, bins) float32 weights of each bin; 1 where a piece has no level yet."""
        known = self.counts > 1e-9
        level = torch.where(known, self.sums / self.counts.clamp_min(1e-9), 0.0)
        z = (self.bins[None, :] - level[:, None]) / max(self.width, 1e-9)
        weights = torch.exp(-0.5 * z * z)
        return torch.where(known[:, None], weights, 1.0).float()

    def update(self, started: torch.Tensor) -> None:
        """Age the memory one step and add the (rows, N) bins started at it (0: none)."""
        started = started.to(torch.float64)
        self.sums = self.sums * self.decay + started.sum(-1)
        self.counts = self.counts * self.decay + (started > 0).sum(-1)

    def take_rows(self, index: np.ndarray) -> None:
        """Row ``i`` continues from row ``index[i]`` (rhythm copy's choice of candidates)."""
        rows = torch.from_numpy(index)
        self.sums, self.counts = self.sums[rows], self.counts[rows]


class LoudnessDrift:
    """The loudness level of each of ``rows`` pieces, drawn afresh at every bar line."""

    def __init__(self, sd: float, rows: int, bins: int, bar_steps: int,
                 seed: int | None = None, correlation: float = DRIFT_CORRELATION) -> None:
        self.sd = check_velocity_drift(sd)
        self.correlation = correlation
        self.bar_steps = bar_steps
        self.rng = np.random.default_rng(None if seed is None else [seed, _DRIFT_STREAM])
        self.tilt = self.rng.normal(0.0, self.sd, rows)  # the stationary spread from bar 0
        self.bar = 0
        self.centred = torch.arange(bins, dtype=torch.float64) - (bins - 1) / 2

    def weights(self, step: int) -> torch.Tensor:
        """(rows, bins) float32 weights of each bin at grid ``step`` (from a bar line)."""
        innovation = self.sd * (1.0 - self.correlation ** 2) ** 0.5
        while self.bar < step // self.bar_steps:
            self.tilt = self.correlation * self.tilt + self.rng.normal(0.0, innovation,
                                                                       len(self.tilt))
            self.bar += 1
        tilt = torch.from_numpy(self.tilt)[:, None]
        return torch.exp(tilt * self.centred[None, :]).float()

    def take_rows(self, index: np.ndarray) -> None:
        """Row ``i`` continues from row ``index[i]`` (rhythm copy's choice of candidates)."""
        self.tilt = self.tilt[index]
