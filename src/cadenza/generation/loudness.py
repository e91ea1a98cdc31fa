"""Loudness memory: each new note's velocity stays near the piece's recent level.

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

from cadenza.errors import ConfigError

__all__ = ["LoudnessMemory", "check_velocity_memory"]

MAX_WIDTH = 16.0


def check_velocity_memory(width: float) -> float:
    """A loudness-memory width in bins, in [0, 16] (0: off), else ConfigError naming it."""
    if not isinstance(width, (int, float)) or isinstance(width, bool) \
            or not 0.0 <= float(width) <= MAX_WIDTH:
        raise ConfigError(f"velocity_memory must be a number of velocity bins in "
                          f"0..{MAX_WIDTH:g}, got {width!r}")
    return float(width)


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
