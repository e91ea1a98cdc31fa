"""The biaxial LSTM's teacher-forced pass: both stacks over whole windows, and its loss.

Training, :meth:`~cadenza.models.biaxial.BiaxialLSTM.predict_probs` and the likelihood scores
run each axis as one fused ``nn.LSTM`` call per layer over every sequence at once, each note
seeing its lower neighbour's actual notes (teacher forcing)::

    features (B, T, N, 80) -> time stack over T for each of the B*N (sequence, note) pairs
    -> [time output, lower neighbour's notes (, chord-so-far counts)]
    -> note stack up N for each of the B*T (sequence, step) pairs -> Linear -> logits (B, T, N, 2)

Dropout follows the original: applied to the output of every LSTM layer with one mask per
sequence, shared along the axis the LSTM runs over (:func:`variational_dropout`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from cadenza.errors import DataError
from cadenza.models.base import Batch
from cadenza.models.chordcontext import chord_counts
from cadenza.representations.notestate import NUM_FEATURES

if TYPE_CHECKING:
    from cadenza.models.biaxial import BiaxialLSTM

__all__ = [
    "check_batch",
    "note_stack",
    "step_mask",
    "teacher_forced_loss",
    "time_stack",
    "variational_dropout",
]


def check_batch(features: torch.Tensor, target: torch.Tensor, velocity_bins: int) -> None:
    """Raise ``DataError`` unless features are (B, T, N, 80) and the target (B, T, N, 2), or
    (B, T, N, 3) for a model with ``velocity_bins``."""
    if features.ndim != 4 or features.shape[-1] != NUM_FEATURES:
        raise DataError(
            f"biaxial: features must be (B, T, N, {NUM_FEATURES}), got {tuple(features.shape)}"
        )
    channels = 3 if velocity_bins else 2
    if target.shape != (*features.shape[:3], channels):
        raise DataError(
            f"biaxial: target must be (B, T, N, {channels}) = "
            f"{(*features.shape[:3], channels)}, got {tuple(target.shape)}"
        )


def step_mask(batch: Batch, target: torch.Tensor) -> torch.Tensor:
    """The batch's (B, T) step mask, or all ones for a batch without one."""
    mask = batch.get("mask")
    if mask is None:
        return target.new_ones(target.shape[:2])
    if mask.shape != target.shape[:2]:
        raise DataError(
            f"biaxial: mask must be (B, T) = {tuple(target.shape[:2])}, got {tuple(mask.shape)}"
        )
    return mask.to(target.dtype)


def variational_dropout(x: torch.Tensor, p: float, training: bool, inplace: bool = False
                        ) -> torch.Tensor:
    """Dropout on x (S, L, H) with one mask per sequence S, shared along the L axis
    (``inplace``: into ``x`` itself, which no backward may need)."""
    if not training or p == 0.0:
        return x
    keep = torch.full((x.shape[0], 1, x.shape[2]), 1.0 - p, device=x.device, dtype=x.dtype)
    # Scaling the (S, 1, H) mask first makes one pass over x, not two; the result equals
    # x * mask / (1 - p) bit for bit where 1 / (1 - p) is a power of two (p = 0.5).
    mask = torch.bernoulli(keep) / (1.0 - p)
    return x.mul_(mask) if inplace else x * mask


def time_stack(layers: Iterable[nn.Module], features: torch.Tensor, dropout: float,
               training: bool) -> torch.Tensor:
    """Time-axis stack: features (B, T, N, F) -> last-layer output (B, T, N, Ht).

    The (B*N, T, F) sequences are laid out step-major in memory, (T, B*N, F), which is
    what ``nn.LSTM`` hands oneDNN: no layer copies its input or output.
    """
    b, t, n, f = features.shape
    x = features.permute(1, 0, 2, 3).reshape(t, b * n, f).transpose(0, 1)  # (B*N, T, F)
    for lstm in layers:
        if torch.is_grad_enabled() and not x.requires_grad and _native_lstm_serves(x):
            x = _lstm_without_input_gradient(lstm, x)  # (B*N, T, H), not needed backward
            x = variational_dropout(x, dropout, training, inplace=True)
            continue
        x, _ = lstm(x)  # (B*N, T, H)
        x = variational_dropout(x, dropout, training)
    return x.reshape(b, n, t, -1).permute(0, 2, 1, 3)  # (B, T, N, Ht), a view


def _native_lstm_serves(x: torch.Tensor) -> bool:
    """Whether PyTorch's own LSTM is the faster way to a layer whose input ``x`` needs no
    gradient: on CPU in float32, not under bfloat16 autocast (oneDNN's bfloat16 kernels)."""
    return x.device.type == "cpu" and not torch.is_autocast_enabled("cpu")


def _lstm_without_input_gradient(lstm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``lstm(x)``'s output where ``x`` needs no gradient (the input features of the first
    time layer in training), through PyTorch's own CPU LSTM instead of oneDNN's.

    oneDNN's backward always works out the gradient of its input, an (S*L, F) x (F, 4H)
    product as large as the input projection itself; PyTorch's own layer, differentiated
    op by op, skips it, and its backward does not read its output (so dropout may scale it
    in place). The two agree to float32 rounding (docs/benchmarks.md, "Training speed").
    """
    # The switch behind torch.backends.mkldnn.enabled alone: the flags() context also sets
    # TF32, which warns on a CPU build.
    enabled = torch._C._get_mkldnn_enabled()
    torch._C._set_mkldnn_enabled(False)
    try:
        return lstm(x)[0]
    finally:
        torch._C._set_mkldnn_enabled(enabled)


def note_stack(layers: Iterable[nn.Module], output: nn.Module, time_out: torch.Tensor,
               target: torch.Tensor, *, dropout: float, training: bool, chord_inputs: bool
               ) -> torch.Tensor:
    """Note-axis stack under teacher forcing -> logits (B, T, N, 2).

    ``time_out`` (B, T, N, Ht); ``target`` (B, T, N, 2) the actual notes being predicted,
    of which each note sees its lower neighbour's (and, with ``chord_inputs``, the chord
    below it). The (B*T, N, F) sequences are laid out note-major in memory, (N, B*T, F), as
    for the time axis.
    """
    b, t, n, _ = time_out.shape
    lower = F.pad(target[:, :, :-1, :2], (0, 0, 1, 0))  # (B, T, N, 2), zeros for note 0
    parts = [time_out, lower.to(time_out.dtype)]
    if chord_inputs:
        parts.append(chord_counts(target[..., 0].float()).to(time_out.dtype))
    x = torch.cat([part.permute(2, 0, 1, 3) for part in parts], dim=-1)  # (N, B, T, F)
    x = x.reshape(n, b * t, -1).transpose(0, 1)  # (B*T, N, Ht + note_inputs)
    for lstm in layers:
        x, _ = lstm(x)  # (B*T, N, H)
        x = variational_dropout(x, dropout, training)
    return output(x.contiguous()).reshape(b, t, n, 2)  # (B, T, N, 2)


def teacher_forced_loss(model: BiaxialLSTM, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean binary cross-entropy of play plus masked articulate, per (step, note).

    Both sums (articulate only where the target note plays) are divided by the number of
    (sequence, step, note) cells, so the loss is the original's negative log-likelihood
    scaled by a constant. ``nll_per_step`` is the same sum per time step (nats). Steps
    whose ``batch["mask"]`` is 0 (padding after a short piece) are left out of every sum
    and count. With ``velocity_bins`` the cross-entropy of every started note's velocity bin
    is added (``velocity_ce``).
    """
    target = batch["target"]
    check_batch(batch["features"], target, model.config.velocity_bins)
    mask = step_mask(batch, target)  # (B, T)
    time_out = model.time_forward(batch["features"], batch.get("style"))
    logits = model.note_logits(time_out, target)
    play_target = target[..., 0]
    cell_mask = mask[..., None].expand_as(play_target)
    play = F.binary_cross_entropy_with_logits(
        logits[..., 0], play_target, weight=cell_mask, reduction="sum"
    )
    artic = F.binary_cross_entropy_with_logits(
        logits[..., 1], target[..., 1], weight=play_target * cell_mask, reduction="sum"
    )
    steps = max(float(mask.sum()), 1.0)
    cells = steps * play_target.shape[2]
    total = play + artic
    metrics = {
        "play_bce": float(play.detach()) / cells,
        "artic_bce": float(artic.detach()) / cells,
    }
    if model.velocity is not None:  # cross-entropy of the bin of every note started
        started = (target[..., 1] * play_target > 0) & (target[..., 2] > 0)
        chosen = model.velocity_logits(time_out, target, where=started)  # (started, bins)
        velocity = F.cross_entropy(chosen, target[..., 2][started].long() - 1,
                                   reduction="sum")
        total = total + velocity
        metrics["velocity_ce"] = float(velocity.detach()) / max(int(started.sum()), 1)
    metrics["nll_per_step"] = float(total.detach()) / steps
    return total / cells, metrics
