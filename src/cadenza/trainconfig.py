"""The training loop's settings: :class:`TrainConfig`, the learning-rate schedule and the
optimiser they choose."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from cadenza.errors import ConfigError
from cadenza.models.base import SequenceModel

OPTIMIZERS = ("adam", "adamw", "adadelta", "rmsprop", "sgd")
# The biaxial original's Adadelta (Zeiler 2012 settings, as Theano's defaults of its time):
# a full step (lr 1) on the summed cost, decay 0.95, epsilon 1e-6.
ADADELTA_RHO, ADADELTA_EPS = 0.95, 1e-6
DEFAULT_LR = {"adadelta": 1.0}
SCHEDULES = ("constant", "cosine", "linear")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """Settings of the training loop (the model's own sizes live in its config).

    ``grad_clip=None`` uses the model config's ``grad_clip`` (and ``clip_mode``) when it has
    one, else no clipping. ``clip_mode`` is ``"norm"`` (total gradient norm) or ``"value"``
    (each element clipped to ``[-grad_clip, grad_clip]``).
    ``early_stopping_patience`` counts evaluations without a new best (0 = never stop early).
    ``max_seconds`` stops training after that much wall time (0 = no limit).
    ``optimizer="adadelta"`` is the biaxial original's: decay 0.95, epsilon 1e-6, gradients of
    the *summed* cost (the mean loss times ``model.summed_cost_terms``), with ``lr`` 1.0 as
    the paper's (the CLI's default for it).
    ``precision``: ``"bf16"`` runs the training forward pass (the loss) under bfloat16
    autocast, ``"fp32"`` never does, ``"auto"`` does on a CPU with native bfloat16 support
    (AVX512-BF16 / AMX) and on a GPU that supports it. Weights, gradients, the optimiser and
    validation stay in float32 either way.
    ``ema``: when in ``(0, 1)``, the decay of a running average of the weights
    (:mod:`cadenza.averaging`) that validation, samples and checkpoints use; 0 = off.
    """

    steps: int = 10_000
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    grad_clip: float | None = None
    clip_mode: str = "norm"
    log_every: int = 100
    eval_every: int = 500
    checkpoint_every: int = 500
    sample_every: int = 500
    early_stopping_patience: int = 0
    keep_checkpoints: int = 3
    max_eval_batches: int = 50
    max_seconds: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    ema: float = 0.0

    def __post_init__(self) -> None:
        if self.steps <= 0:
            raise ConfigError(f"steps must be positive, got {self.steps}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("log_every", "eval_every", "checkpoint_every", "sample_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.clip_mode not in ("norm", "value"):
            raise ConfigError(f"clip_mode must be 'norm' or 'value', got {self.clip_mode!r}")
        if self.max_seconds < 0:
            raise ConfigError(f"max_seconds must be >= 0, got {self.max_seconds}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"grad_clip must be positive, got {self.grad_clip}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.keep_checkpoints < 1:
            raise ConfigError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must be in [0, 1) (0: off), got {self.ema}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lr_factor(step: int, config: TrainConfig, elapsed: float | None = None) -> float:
    """Multiplier of the base learning rate at (0-based) ``step``: warm-up, then schedule.

    With a time budget (``max_seconds``) and ``elapsed`` seconds spent, the schedule runs on
    whichever budget is further spent, steps or time, so a run cut by time still ends with a
    decayed rate (such a run is then not reproducible step for step on a resume).
    """
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    span = max(config.steps - config.warmup_steps, 1)
    progress = min(max(step - config.warmup_steps, 0) / span, 1.0)
    if config.max_seconds and elapsed is not None:
        progress = max(progress, min(elapsed / config.max_seconds, 1.0))
    floor = config.min_lr_ratio
    if config.schedule == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0 - (1.0 - floor) * progress  # linear


def make_optimizer(model: SequenceModel, config: TrainConfig) -> torch.optim.Optimizer:
    groups = model.param_groups(config.lr)
    for group in groups:
        group.setdefault("initial_lr", group["lr"])
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(groups, weight_decay=config.weight_decay,
                                    rho=ADADELTA_RHO, eps=ADADELTA_EPS)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, momentum=0.9, weight_decay=config.weight_decay)
