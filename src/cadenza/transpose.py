"""The one check of a transposition range, shared by data augmentation and model configs
(a module of its own, so that neither imports the other, nor torch)."""

from __future__ import annotations

from collections.abc import Sequence

from cadenza.errors import ConfigError

__all__ = ["MAX_TRANSPOSITION", "check_transpose_range"]

MAX_TRANSPOSITION = 24  # semitones either way; wider shifts push most music off the keyboard


def check_transpose_range(semitones: Sequence[int]) -> tuple[int, int]:
    """Validate an inclusive ``(low, high)`` range of semitones and return it as a tuple."""
    if len(semitones) != 2:
        raise ConfigError(f"transpose range must be (low, high), got {semitones!r}")
    low, high = int(semitones[0]), int(semitones[1])
    if low > high or abs(low) > MAX_TRANSPOSITION or abs(high) > MAX_TRANSPOSITION:
        raise ConfigError(
            f"transpose range must satisfy -{MAX_TRANSPOSITION} <= low <= high <= "
            f"{MAX_TRANSPOSITION}, got ({low}, {high})"
        )
    return low, high
