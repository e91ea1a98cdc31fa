"""Step-by-step generation for every model family (see :func:`generate`)."""

from __future__ import annotations

import numpy as np

from cadenza.errors import ConfigError
from cadenza.generation.base import GenerationConfig, GenerationResult
from cadenza.generation.notes import generate_biaxial, generate_pianoroll
from cadenza.generation.sequences import generate_events, generate_notetokens
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation

GENERATORS = {
    "biaxial": generate_biaxial,
    "pianoroll": generate_pianoroll,
    "events": generate_events,
    "notetokens": generate_notetokens,
}


def generate(
    model: SequenceModel,
    representation: Representation,
    primer: np.ndarray | None,
    config: GenerationConfig,
) -> GenerationResult:
    """Continue ``primer`` (an encoded array, or ``None``) with ``model``; see each family."""
    if model.family not in GENERATORS:
        raise ConfigError(f"no generator for model family {model.family!r}")
    was_training = model.training
    model.eval()
    try:
        return GENERATORS[model.family](model, representation, primer, config)
    finally:
        model.train(was_training)


__all__ = ["GenerationConfig", "GenerationResult", "generate"]
