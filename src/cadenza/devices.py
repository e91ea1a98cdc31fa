"""Where training computes: the device, its bfloat16 support and the move of a batch onto it."""

from __future__ import annotations

import torch

from cadenza.errors import ConfigError


def pick_device(name: str) -> torch.device:
    """``auto`` = CUDA when available, else CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"bad device {name!r}: {exc}") from None


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (not emulated through float32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        return bool((check is not None and check()) or (amx is not None and amx()))
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the training forward pass, or ``None`` for plain float32.

    Raises:
        ConfigError: ``bf16`` asked for on a device without native bfloat16 (oneDNN has no
            bfloat16 LSTM for such CPUs; it fails deep inside the first step).
    """
    native = native_bf16(device)
    if precision == "bf16" and not native:
        raise ConfigError(
            f"--precision bf16: this {device.type.upper()} has no native bfloat16 (AVX512-BF16 "
            "or AMX on a CPU); use --precision auto or fp32")
    if precision == "bf16" or (precision == "auto" and native):
        return torch.bfloat16
    return None


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
