"""Piano-roll LSTM (RNN4Music, Ip): stacked LSTMs predicting the next frame of an 88-key roll.

::

    roll frame t (B, T, 88) -> LSTM layer 1 .. L (B, T, H_l) -> Linear(H_L, 88) -> sigmoid
    = P(key k sounds at frame t + 1)                                         (B, T, 88)

As in the original: every weight and bias is drawn from N(0, ``init_std``); each layer
(LSTM layers, then the output layer) can have its own learning rate (``layer_lrs``, exposed
through :meth:`PianoRollLSTM.param_groups`); gradients are clipped at ``grad_clip`` by the
trainer; the state at time -1 is drawn from U[0, ``init_state_max``]. That initial state is
drawn once when the model is built and kept as fixed (non-trained) buffers, so it is saved
with the weights and generation starts from the same state training used. The cost is the
binary cross-entropy (``"xent"``) or half the squared error (``"mse"``) summed over the 88
keys and averaged over frames, with probabilities clamped to [eps, 1 - eps] as the original.

Each layer is its own fused ``nn.LSTM`` so that it can sit in its own optimizer group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn

from cadenza.errors import ConfigError, DataError
from cadenza.models.base import (
    Batch,
    LayerState,
    ModelConfig,
    PlayScores,
    SequenceModel,
    check_probability,
)
from cadenza.representations.base import PIANO_KEYS

__all__ = [
    "COSTS",
    "PRESETS",
    "PianoRollLSTM",
    "PianoRollLSTMConfig",
    "build",
    "config_for",
    "frame_nll",
]

COSTS = ("xent", "mse")
RNN4MUSIC_LR = 0.001
LSTMState = tuple[torch.Tensor, torch.Tensor]


@dataclass
class PianoRollLSTMConfig(ModelConfig):
    """Sizes and training settings of the piano-roll LSTM.

    Attributes:
        num_keys: width of a frame (88 piano keys, MIDI 21..108).
        hidden_sizes: units of each LSTM layer, bottom first.
        layer_lrs: learning rate of each LSTM layer and then of the output layer
            (``len(hidden_sizes) + 1`` values); empty means every layer uses the trainer's rate.
        grad_clip: clipping threshold the trainer applies to the gradients (0 = off).
        clip_mode: ``"value"`` clips each gradient element to ``[-grad_clip, grad_clip]`` as
            the original did; ``"norm"`` clips the total norm instead.
        init_std: standard deviation of the Gaussian initialisation of weights and biases.
        init_state_max: the initial (h, c) are drawn once from U[0, init_state_max].
        cost: ``"xent"`` (binary cross-entropy) or ``"mse"`` (half squared error).
        eps: probabilities are clamped to [eps, 1 - eps] in the costs and ``nll_per_step``.
        dropout: dropout on each LSTM layer's output in training (0 = off, as the original).
        batch_size: windows per training batch.
        seq_len: predicted frames per window (a window holds ``seq_len + 1`` frames).
        transpose_range: inclusive semitone range of training transposition; ``(0, 0)`` is off.
    """

    family: ClassVar[str] = "pianoroll"
    positive_fields: ClassVar[tuple[str, ...]] = ("num_keys", "init_std", "batch_size", "seq_len")

    num_keys: int = PIANO_KEYS
    hidden_sizes: tuple[int, ...] = (120, 120, 120)
    layer_lrs: tuple[float, ...] = ()
    grad_clip: float = 30.0
    clip_mode: str = "value"
    init_std: float = 0.1
    init_state_max: float = 0.01
    cost: str = "xent"
    eps: float = 1e-5
    dropout: float = 0.0
    batch_size: int = 10
    seq_len: int = 100
    transpose_range: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(self.hidden_sizes)
        self.layer_lrs = tuple(self.layer_lrs)
        if len(self.hidden_sizes) == 0 or any(
            not isinstance(s, int) or s <= 0 for s in self.hidden_sizes
        ):
            raise ConfigError(
                "hidden_sizes must be a non-empty tuple of positive ints, "
                f"got {self.hidden_sizes!r}"
            )
        if self.layer_lrs and len(self.layer_lrs) != len(self.hidden_sizes) + 1:
            raise ConfigError(
                f"layer_lrs needs {len(self.hidden_sizes) + 1} rates (one per LSTM layer, then "
                f"the output layer) or none, got {self.layer_lrs!r}"
            )
        if any(lr <= 0 for lr in self.layer_lrs):
            raise ConfigError(f"layer_lrs must be positive, got {self.layer_lrs!r}")
        if self.cost not in COSTS:
            raise ConfigError(f"cost must be one of {', '.join(COSTS)}, got {self.cost!r}")
        if self.clip_mode not in ("value", "norm"):
            raise ConfigError(f"clip_mode must be 'value' or 'norm', got {self.clip_mode!r}")
        if self.grad_clip < 0:
            raise ConfigError(f"grad_clip must be >= 0 (0 = off), got {self.grad_clip!r}")
        if self.init_state_max < 0:
            raise ConfigError(f"init_state_max must be >= 0, got {self.init_state_max!r}")
        if not 0 < self.eps < 0.5:
            raise ConfigError(f"eps must be in (0, 0.5), got {self.eps!r}")
        super().__post_init__()
        check_probability("dropout", self.dropout)


PRESETS: dict[str, PianoRollLSTMConfig] = {
    # RNN4Music's published settings: 3 x 120 units, every layer at lr 0.001, clip 30.
    "pianoroll-rnn4music": PianoRollLSTMConfig(layer_lrs=(RNN4MUSIC_LR,) * 4),
    "pianoroll-small": PianoRollLSTMConfig(
        hidden_sizes=(64, 64), batch_size=16, seq_len=64, transpose_range=(-3, 3)
    ),
    "pianoroll-debug": PianoRollLSTMConfig(hidden_sizes=(16, 16), batch_size=4, seq_len=16),
}


class _PianoRollLike(Protocol):
    """What :func:`config_for` needs of the ``pianoroll`` representation."""

    @property
    def feature_shape(self) -> tuple[int, ...]: ...


def config_for(config: PianoRollLSTMConfig, representation: _PianoRollLike) -> PianoRollLSTMConfig:
    """Copy of ``config`` whose ``num_keys`` matches ``representation`` (K of (T, K))."""
    return replace(config, num_keys=int(representation.feature_shape[0]))


def frame_nll(probs: torch.Tensor, targets: torch.Tensor, eps: float) -> torch.Tensor:
    """Binary cross-entropy summed over keys (nats): probs, targets (..., K) -> (...).

    ``probs`` are clamped to [eps, 1 - eps] first.
    """
    p = probs.clamp(eps, 1.0 - eps)
    return -(targets * torch.log(p) + (1.0 - targets) * torch.log1p(-p)).sum(-1)


class PianoRollLSTM(SequenceModel):
    """Stacked LSTM over piano-roll frames.

    Batches (from :class:`cadenza.data.batching.pianoroll.PianoRollBatchMaker`):
        ``inputs``: (B, T, 88) float32 frames 0..T-1; ``targets``: (B, T, 88) frames 1..T.
    """

    family: ClassVar[str] = "pianoroll"
    representation: ClassVar[str] = "pianoroll"
    config: PianoRollLSTMConfig

    def __init__(self, config: PianoRollLSTMConfig) -> None:
        super().__init__(config)
        sizes = (config.num_keys, *config.hidden_sizes)
        self.layers = nn.ModuleList(
            nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(sizes) - 1)
        )
        self.output = nn.Linear(sizes[-1], config.num_keys)
        self.dropout = nn.Dropout(config.dropout)
        with torch.no_grad():
            for param in self.parameters():
                param.normal_(0.0, config.init_std)
        for i, h in enumerate(config.hidden_sizes):
            self.register_buffer(f"initial_h{i}", torch.rand(h) * config.init_state_max)
            self.register_buffer(f"initial_c{i}", torch.rand(h) * config.init_state_max)

    def _initial(self, layer: int, batch_size: int) -> LSTMState:
        h = getattr(self, f"initial_h{layer}")
        c = getattr(self, f"initial_c{layer}")
        shape = (1, batch_size, h.shape[0])
        return h.expand(shape).contiguous(), c.expand(shape).contiguous()

    def _run(
        self, frames: torch.Tensor, state: list[LSTMState]
    ) -> tuple[torch.Tensor, list[LSTMState]]:
        """frames (B, T, K) -> logits (B, T, K) and the state after the last frame."""
        x = frames
        new_state: list[LSTMState] = []
        for lstm, layer_state in zip(self.layers, state, strict=True):
            x, layer_state = lstm(x, layer_state)  # (B, T, H)
            new_state.append(layer_state)
            x = self.dropout(x)
        return self.output(x), new_state  # (B, T, K)

    def _check_frames(self, frames: torch.Tensor, name: str) -> None:
        if frames.ndim != 3 or frames.shape[-1] != self.config.num_keys:
            raise DataError(
                f"pianoroll: {name} must be (B, T, {self.config.num_keys}), "
                f"got {tuple(frames.shape)}"
            )

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, K) of the next frame after each input frame, from the initial state."""
        self._check_frames(inputs, "inputs")
        logits, _ = self._run(inputs, self.init_state(inputs.shape[0]))
        return logits

    @torch.no_grad()
    def predict_probs(self, batch: Batch) -> torch.Tensor:
        """Teacher-forced probabilities (B, T, 88) that each key sounds in the next frame."""
        return torch.sigmoid(self.logits(batch["inputs"]))

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The configured cost, summed over keys and averaged over frames."""
        targets = batch["targets"]
        self._check_frames(targets, "targets")
        # In float32 even under bfloat16 autocast: there 1 - eps rounds to 1, and the clamped
        # probability of 1 made log1p(-p) = -inf and the loss NaN.
        probs = torch.sigmoid(self.logits(batch["inputs"]).float())
        if probs.shape != targets.shape:
            raise DataError(
                f"pianoroll: inputs {tuple(probs.shape)} and targets {tuple(targets.shape)} differ"
            )
        nll = frame_nll(probs, targets, self.config.eps).mean()
        if self.config.cost == "xent":
            loss = nll
        else:
            p = probs.clamp(self.config.eps, 1.0 - self.config.eps)
            loss = 0.5 * (p - targets).pow(2).sum(-1).mean()
        return loss, {self.config.cost: float(loss.detach()), "nll_per_step": float(nll.detach())}

    def summed_cost_terms(self, batch: Batch) -> float:
        """Frames the loss (summed over keys) is averaged over."""
        return float(batch["targets"].shape[0] * batch["targets"].shape[1])

    def param_groups(self, base_lr: float) -> list[dict[str, Any]]:
        """One group per LSTM layer and one for the output layer.

        Each group's ``lr`` is the config's ``layer_lrs`` entry, or ``base_lr`` when
        ``layer_lrs`` is empty. Groups are named ``lstm0``, ``lstm1``, ..., ``output``.
        """
        modules: list[tuple[str, nn.Module]] = [
            (f"lstm{i}", lstm) for i, lstm in enumerate(self.layers)
        ]
        modules.append(("output", self.output))
        lrs = self.config.layer_lrs or (base_lr,) * len(modules)
        return [
            {"params": list(module.parameters()), "lr": lr, "name": name}
            for (name, module), lr in zip(modules, lrs, strict=True)
        ]

    # -- generation ---------------------------------------------------------------------
    def init_state(self, batch_size: int) -> list[LSTMState]:
        """The drawn initial (h, c) of every layer, each expanded to (1, B, H)."""
        return [self._initial(i, batch_size) for i in range(len(self.layers))]

    @torch.no_grad()
    def step(self, inputs: Any, state: Any, **kwargs: Any) -> tuple[dict[str, torch.Tensor], Any]:
        """Feed one frame ``inputs`` (B, 88) -> ``({"probs": (B, 88)}, state)``.

        ``probs`` are the probabilities that each key sounds in the next frame; the sampler
        chooses the frame to feed back.
        """
        if kwargs:
            raise TypeError(f"pianoroll step got unknown argument(s): {', '.join(sorted(kwargs))}")
        frame = inputs
        if frame.ndim != 2 or frame.shape[-1] != self.config.num_keys:
            raise DataError(
                f"pianoroll step: frame must be (B, {self.config.num_keys}), "
                f"got {tuple(frame.shape)}"
            )
        weight = self.output.weight
        logits, new_state = self._run(frame.to(weight.dtype).unsqueeze(1), state)
        return {"probs": torch.sigmoid(logits.squeeze(1))}, new_state

    # -- scoring and inspection --------------------------------------------------------
    @torch.no_grad()
    def play_scores(self, representation: Any, piece: np.ndarray) -> PlayScores:
        """The 88 outputs are the key probabilities; a silent frame goes in front."""
        roll = torch.from_numpy(piece.astype(np.float32)).to(self.output.weight.device)
        inputs = torch.cat([torch.zeros_like(roll[:1]), roll[:-1]])[None]  # (1, T, K)
        return PlayScores(self.logits(inputs)[0], roll)

    @torch.inference_mode()
    def read_primer(self, representation: Any, primer: np.ndarray, first_step: int = 0
                    ) -> Iterator[list[LSTMState]]:
        state = self.init_state(1)
        for frame in primer:
            inputs = torch.from_numpy(frame.astype(np.float32))[None]
            _, state = self.step(inputs.to(self.output.weight.device), state)
            yield state

    def layer_states(self, state: Any) -> list[LayerState]:
        return [(h[0, 0].float().cpu().numpy(), c[0, 0].float().cpu().numpy())
                for h, c in state]

    # -- accounting ---------------------------------------------------------------------
    def flops_per_batch(self, batch: Batch) -> float:
        """Matmul FLOPs of forward + backward (3x forward) for ``batch``."""
        b, t = batch["inputs"].shape[:2]
        sizes = (self.config.num_keys, *self.config.hidden_sizes)
        per_frame = sum(
            2 * 4 * sizes[i + 1] * (sizes[i] + sizes[i + 1]) for i in range(len(sizes) - 1)
        )
        per_frame += 2 * sizes[-1] * self.config.num_keys
        return 3.0 * b * t * per_frame


def build(config: PianoRollLSTMConfig) -> PianoRollLSTM:
    """The model for ``config``."""
    return PianoRollLSTM(config)
