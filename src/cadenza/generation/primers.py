"""Choosing primers: the opening of a piece the model never trained on."""

from __future__ import annotations

import numpy as np

from cadenza.errors import DataError
from cadenza.families import get_family
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation


def default_primer_length(model: SequenceModel, representation: Representation) -> int:
    """One bar of 4/4 for the grid families, the preset's primer/window for the others."""
    return get_family(model.family).default_primer_length(model, representation)


def primer_from_array(array: np.ndarray, length: int, start: int = 0) -> np.ndarray:
    """``length`` elements of an encoded piece from ``start`` (fewer if the piece is short)."""
    if length <= 0:
        raise DataError(f"primer length must be positive, got {length}")
    if start < 0 or start >= len(array):
        raise DataError(f"primer start {start} outside a piece of length {len(array)}")
    return np.ascontiguousarray(array[start : start + length])


def first_sounding_index(array: np.ndarray) -> int:
    """Index of the first element that makes sound (skips leading silence of grid arrays)."""
    if array.ndim >= 2 and array.dtype == np.uint8:
        flat = array.reshape(len(array), -1)
        sounding = np.flatnonzero(flat.any(axis=1))
        return int(sounding[0]) if len(sounding) else 0
    return 0
