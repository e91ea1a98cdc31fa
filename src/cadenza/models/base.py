"""The contract every cadenza model follows, so one training loop and one sampler serve all.

A model is a ``torch.nn.Module`` with:
    * ``config``: its ``ModelConfig`` dataclass (saved as JSON in every checkpoint);
    * ``family``: ``"biaxial" | "pianoroll" | "events" | "notetokens"``;
    * ``representation``: name of the representation whose arrays it consumes;
    * ``loss(batch) -> (loss, metrics)``: teacher-forced training loss on a batch made by the
      family's batch maker (``cadenza.data.batches``); ``metrics`` are plain floats for logs;
    * ``init_state(batch_size) -> state`` and ``step(inputs, state, ...) -> (outputs, state)``:
      incremental generation, one time step (frame / message / token) at a time, carrying the
      recurrent state instead of re-running the history where the architecture allows it.

Optional parts of the contract (a family that lacks them raises ``ConfigError``):
    * ``play_scores(representation, piece)``: what the likelihood protocol scores;
    * ``read_primer(representation, primer, first_step)`` and ``layer_states(state)``: the
      LSTM layers' states while reading a primer (``cadenza inspect``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from cadenza.errors import ConfigError
from cadenza.transpose import check_transpose_range

Batch = dict[str, torch.Tensor]
State = Any
LayerState = tuple[np.ndarray, np.ndarray]  # hidden (H,), cell (H,) of one layer


@dataclass
class PlayScores:
    """A piece as the likelihood protocol scores it, (T, keys) each.

    ``logits``: teacher-forced logits that each key sounds at each step; ``target``: the
    piece's 0/1 play bits; ``past_only``: the keys predicted on (bool) when every frame is
    predicted from the past alone, or ``None`` when ``logits >= 0`` already is that (keys
    independent given the past).
    """

    logits: torch.Tensor
    target: torch.Tensor
    past_only: torch.Tensor | None = None


@dataclass
class ModelConfig:
    """Base of every model config. Subclasses add their fields, name those that must be
    positive in ``positive_fields``, call ``super().__post_init__()`` and check the rest."""

    family: ClassVar[str] = ""
    positive_fields: ClassVar[tuple[str, ...]] = ()  # fields that must be > 0

    # Shape of the training data; every family sets its own defaults.
    batch_size: int = 1
    seq_len: int = 1
    transpose_range: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        """The checks every family shares: ``positive_fields`` and the transposition range
        (given back as a tuple, as JSON gives a list)."""
        self.transpose_range = tuple(self.transpose_range)  # type: ignore[assignment]
        for name in self.positive_fields:
            check_positive(name, getattr(self, name))
        check_transpose_range(self.transpose_range)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["family"] = self.family
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        family = data.pop("family", cls.family)
        if family != cls.family:
            raise ConfigError(f"config is for family {family!r}, not {cls.family!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown {cls.family} config field(s): {', '.join(unknown)}")
        for f in fields(cls):  # JSON turns tuples into lists
            if f.name in data and isinstance(data[f.name], list):
                data[f.name] = tuple(data[f.name])
        return cls(**data)


def check_positive(name: str, value: float) -> None:
    """Raise ``ConfigError`` unless ``value > 0``."""
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")


def check_probability(name: str, value: float, *, allow_one: bool = False) -> None:
    """Raise ``ConfigError`` unless ``0 <= value < 1`` (``<= 1`` with ``allow_one``)."""
    upper_ok = value <= 1 if allow_one else value < 1
    if not (value >= 0 and upper_ok):
        raise ConfigError(f"{name} must be in [0, 1{']' if allow_one else ')'}, got {value!r}")


class SequenceModel(nn.Module, ABC):
    """Abstract base of the four model families."""

    family: ClassVar[str]
    representation: ClassVar[str]
    config: ModelConfig
    layer_label: ClassVar[str] = "lstm"  # how ``cadenza inspect`` names its LSTM layers

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    @abstractmethod
    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean training loss over the batch and named float metrics for logging."""

    @abstractmethod
    def init_state(self, batch_size: int) -> State:
        """Recurrent state before the first generation step."""

    @abstractmethod
    def step(self, inputs: Any, state: State, **kwargs: Any) -> tuple[Any, State]:
        """Advance generation by one step; see each family for the exact inputs/outputs."""

    def param_groups(self, base_lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups; families with per-layer learning rates override this."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": base_lr}]

    def play_scores(self, representation: Any, piece: np.ndarray) -> PlayScores:
        """Logits and targets of "this key sounds" for the likelihood protocol
        (:mod:`cadenza.likelihood`); ``piece`` is one encoded array, scored from the initial
        state with a silent step in front."""
        raise ConfigError(
            f"the likelihood benchmark scores piano-roll and biaxial models, not {self.family!r}"
        )

    def read_primer(self, representation: Any, primer: np.ndarray, first_step: int = 0
                    ) -> Iterator[State]:
        """Feed ``primer`` (one encoded array) element by element from the initial state,
        yielding the recurrent state after each (batch of one)."""
        raise ConfigError(
            f"inspect needs a model that carries LSTM state: biaxial, pianoroll or notetokens, "
            f"not {self.family!r}"
        )

    def layer_states(self, state: State) -> list[LayerState]:
        """(hidden, cell) of each LSTM layer for sequence 0 of ``state``."""
        raise ConfigError(f"{self.family!r} models expose no LSTM layer states")

    def summed_cost_terms(self, batch: Batch) -> float:
        """How many terms ``loss`` averages over: the factor that turns it into the summed
        cost the original systems optimised (Adadelta's step depends on that scale through
        its epsilon). 1 where the loss is not an average of a known count."""
        return 1.0

    def adapt_weights(
        self, saved_config: dict[str, Any], weights: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Weights of a model saved with ``saved_config`` made to fit this one, for ``--init``
        (a fine-tune that adds inputs the saved model lacked). Unchanged by default.

        Raises:
            CheckpointError: the saved model has something this one cannot take.
        """
        return weights

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_batch(self, batch: Batch) -> float:
        """Approximate matmul FLOPs of forward + backward for ``batch`` (for throughput
        benchmarks); 0 where a family does not count them."""
        return 0.0

    def flops_per_sample(self, batch: Batch) -> float:
        """The same count as :meth:`flops_per_batch` (the name older benchmarks call)."""
        return self.flops_per_batch(batch)
