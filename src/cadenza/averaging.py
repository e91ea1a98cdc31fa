"""Exponential moving average of a model's weights (Polyak averaging) during training.

With a constant learning rate the weights of the last few hundred updates scatter around a
minimum; their running average usually sits closer to it than any single update, so it
scores a lower validation loss at no extra training cost. The trainer keeps the average next
to the training weights, validates, samples and saves checkpoints with the average, and keeps
the training weights in the checkpoint's trainer state so that ``--resume`` continues the
optimisation itself, not the average.

The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the first
weights of a run (random, or another model's for ``--init``) are forgotten quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import nn

from cadenza.errors import CheckpointError, ConfigError


def effective_decay(decay: float, updates: int) -> float:
    """The decay used for update number ``updates`` (0-based), warmed up from 0.1."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """A running exponential average of ``model``'s floating-point parameters.

    Args:
        model: the module being trained; its parameters are read, never replaced.
        decay: weight of the old average at every update, in ``(0, 1)`` (0.999 averages over
            about the last thousand updates).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"the weight average's decay must be in (0, 1), got {decay}")
        self.model = model
        self.decay = decay
        self.names = [name for name, p in model.named_parameters() if p.is_floating_point()]
        params = dict(model.named_parameters())
        self.shadow = [params[name].detach().clone() for name in self.names]

    def _params(self) -> list[torch.Tensor]:
        params = dict(self.model.named_parameters())
        return [params[name] for name in self.names]

    @torch.no_grad()
    def update(self, updates: int) -> None:
        """Fold the model's current weights in, after optimiser update number ``updates``."""
        weight = 1.0 - effective_decay(self.decay, updates)
        for average, param in zip(self.shadow, self._params(), strict=True):
            average.lerp_(param.detach(), weight)

    @contextmanager
    def swapped(self) -> Iterator[None]:
        """Put the average into the model for the duration, then the training weights back."""
        params = self._params()
        with torch.no_grad():
            saved = [p.detach().clone() for p in params]
            for param, average in zip(params, self.shadow, strict=True):
                param.copy_(average)
        try:
            yield
        finally:
            with torch.no_grad():
                for param, original in zip(params, saved, strict=True):
                    param.copy_(original)

    def training_weights(self) -> dict[str, torch.Tensor]:
        """The model's own (not averaged) weights, by parameter name, on the CPU."""
        return {name: p.detach().cpu().clone() for name, p in zip(self.names, self._params(),
                                                                  strict=True)}

    @torch.no_grad()
    def reset_from_model(self) -> None:
        """Make the average equal to the model's current weights."""
        for average, param in zip(self.shadow, self._params(), strict=True):
            average.copy_(param.detach())


def averaged(average: WeightAverage | None) -> AbstractContextManager[None]:
    """Within it the model holds the running average of its weights (if one is kept)."""
    return average.swapped() if average is not None else nullcontext()


@torch.no_grad()
def load_training_weights(model: nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
    """Copy saved training weights (see :meth:`WeightAverage.training_weights`) into ``model``.

    Raises:
        CheckpointError: a name is missing or a shape differs (``source`` names the file).
    """
    params = dict(model.named_parameters())
    for name, value in weights.items():
        if name not in params or params[name].shape != value.shape:
            raise CheckpointError(f"{source}: saved training weight {name!r} does not fit the "
                                  "model")
    for name, value in weights.items():
        params[name].copy_(value.to(params[name].device, params[name].dtype))
