"""A style label as an input of the biaxial time axis (as DeepJ conditions on composers).

A model trained with styles (``BiaxialConfig.styles``, e.g. ``("Classical", "Romantic")``)
holds a learned embedding of ``style_size`` numbers per style. The embedding of a sequence's
style is appended to the 80 note-state features of every step and every note before the
first time-axis layer, so the whole time axis, and through it the note axis and the dynamics
head, reads the style at every step::

    features (B, T, N, 80) ++ embedding[style] (B, 1, 1, E) broadcast -> (B, T, N, 80 + E)

No style (``None``) reads as a zero vector.

A *style strength* ``s`` (generation only; training always reads the plain embedding)
extrapolates the style away from the centre ``c`` of all the model's style embeddings (their
mean): the vector read is ``c + s * (e_X - c)`` (:func:`style_vectors`). ``s = 1`` is the
style's own embedding (the very same numbers), ``s = 0`` the centre for every style (the
style no longer matters), ``s > 1`` exaggerates what sets the style apart from the others.

A style-free checkpoint initialises a styled model (``cadenza train --init``) with the first
layer's new input columns at zero (:func:`grow_for_styles`): the styled model then computes
exactly what the style-free one did, whatever its style, until fine-tuning teaches it to use
them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cadenza.errors import CheckpointError, ConfigError, DataError, check_number

__all__ = [
    "MAX_STYLE_STRENGTH",
    "STYLE_EMBEDDING",
    "check_style_strength",
    "check_styles",
    "grow_for_styles",
    "style_index",
    "style_vectors",
    "with_style",
]

STYLE_EMBEDDING = "style_embedding"  # the module name of the embedding
FIRST_TIME_WEIGHTS = "time_layers.0.weight_ih_l0"
MAX_STYLE_STRENGTH = 8.0  # far past where the styles the model learned are recognisable


def check_style_strength(strength: float) -> None:
    """Raise ``ConfigError`` unless ``strength`` is a number in [0, MAX_STYLE_STRENGTH]."""
    check_number("style_strength", strength, 0.0, MAX_STYLE_STRENGTH,
                 f"in [0, {MAX_STYLE_STRENGTH:g}]")


def check_styles(styles: tuple[str, ...], style_size: int) -> None:
    """Raise ``ConfigError`` unless the styles are distinct non-empty names (none or at
    least two) and ``style_size`` a positive int."""
    if any(not isinstance(s, str) or not s.strip() for s in styles):
        raise ConfigError(f"styles must be non-empty names, got {list(styles)!r}")
    if len({s.lower() for s in styles}) != len(styles):
        raise ConfigError(f"styles must be distinct (ignoring case), got {list(styles)!r}")
    if len(styles) == 1:
        raise ConfigError(f"a styled model needs at least two styles, got {list(styles)!r}")
    if not isinstance(style_size, int) or style_size <= 0:
        raise ConfigError(f"style_size must be a positive int, got {style_size!r}")


def style_index(styles: tuple[str, ...], name: str) -> int:
    """The index of style ``name`` (case-insensitive) in ``styles``.

    Raises:
        ConfigError: the model has no styles, or none of that name (the message lists them).
    """
    if not styles:
        raise ConfigError(f"style {name!r}: this model was trained without styles "
                          "(train one with `cadenza train --style-from folder|metadata`)")
    wanted = name.strip().lower()
    for index, style in enumerate(styles):
        if style.lower() == wanted:
            return index
    raise ConfigError(f"unknown style {name!r}; this model knows {', '.join(styles)}")


def style_vectors(embedding: nn.Embedding, style: torch.Tensor,
                  strength: float = 1.0) -> torch.Tensor:
    """The vectors (len(style), E) read for the style indices ``style`` at ``strength``:
    ``c + strength * (e - c)``, ``c`` the mean of every style's embedding. Strength 1 gives
    the embedding itself, untouched."""
    vectors = embedding(style)
    if strength == 1.0:
        return vectors
    check_style_strength(strength)
    centre = embedding.weight.mean(dim=0)
    return centre + strength * (vectors - centre)


def with_style(embedding: nn.Embedding | None, features: torch.Tensor,
               style: torch.Tensor | int | None, strength: float = 1.0) -> torch.Tensor:
    """``features`` (..., F) with the style's embedding appended to every row: (..., F + E).

    ``style``: one index for every sequence, or a (B,) tensor for features (B, ...); ``None``
    appends zeros. A model without an embedding gets ``features`` back (and refuses a style).
    ``strength``: the style strength (:func:`style_vectors`; 1: the embedding itself).
    """
    if embedding is None:
        if style is not None:
            raise DataError("this model was trained without styles; it takes no style")
        return features
    size = embedding.embedding_dim
    if style is None:
        return torch.cat([features, features.new_zeros(*features.shape[:-1], size)], dim=-1)
    weight = embedding.weight
    if isinstance(style, int):
        style = torch.tensor([style], device=weight.device)
    style = style.to(weight.device).long().reshape(-1)
    if not bool(((style >= 0) & (style < embedding.num_embeddings)).all()):
        raise DataError(f"style indices must lie in 0..{embedding.num_embeddings - 1}, "
                        f"got {style.tolist()}")
    if len(style) not in (1, features.shape[0]):
        raise DataError(f"{len(style)} styles for a batch of {features.shape[0]}")
    vectors = style_vectors(embedding, style, strength).to(features.dtype)  # (B or 1, E)
    vectors = vectors.reshape(len(style), *([1] * (features.ndim - 2)), size)
    return torch.cat([features, vectors.expand(*features.shape[:-1], size)], dim=-1)


def grow_for_styles(saved_config: dict[str, Any], weights: dict[str, torch.Tensor],
                    own: dict[str, torch.Tensor], styles: tuple[str, ...]
                    ) -> dict[str, torch.Tensor]:
    """Saved ``weights`` made to fit a model with ``styles`` (``own``: its state dict).

    Saved without styles: the first time layer's input weights gain zero columns for the
    style and the embedding keeps its fresh values, so the model computes what the saved
    one did. Saved with styles: they must be the same list, in the same order.
    """
    saved = tuple(saved_config.get("styles") or ())
    if saved == tuple(styles):
        return weights
    if saved:
        raise CheckpointError(
            f"the saved model's styles ({', '.join(saved)}) differ from this run's "
            f"({', '.join(styles) or 'none'})")
    old = weights[FIRST_TIME_WEIGHTS]
    grown = own[FIRST_TIME_WEIGHTS].new_zeros(own[FIRST_TIME_WEIGHTS].shape)
    if grown.shape[0] != old.shape[0] or grown.shape[1] < old.shape[1]:
        raise CheckpointError(f"{FIRST_TIME_WEIGHTS}: saved shape {tuple(old.shape)} does not "
                              f"fit {tuple(grown.shape)}")
    grown[:, : old.shape[1]] = old
    embedding = f"{STYLE_EMBEDDING}.weight"
    return {**weights, FIRST_TIME_WEIGHTS: grown, embedding: own[embedding].detach().clone()}
