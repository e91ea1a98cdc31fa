"""Step-by-step generation for every model family (see :func:`generate`)."""

from __future__ import annotations

import numpy as np

from cadenza.families import get_family
from cadenza.generation.base import GenerationConfig, GenerationResult
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation


def generate(
    model: SequenceModel,
    representation: Representation,
    primer: np.ndarray | None,
    config: GenerationConfig,
) -> GenerationResult:
    """Continue ``primer`` (an encoded array, or ``None``) with ``model``; see each family."""
    family = get_family(model.family)
    was_training = model.training
    model.eval()
    try:
        return family.generate(model, representation, primer, config)
    finally:
        model.train(was_training)


__all__ = ["GenerationConfig", "GenerationResult", "generate"]
