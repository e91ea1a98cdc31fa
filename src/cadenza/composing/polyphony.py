"""How many notes a grid model may sound at once: the request's cap, else the model's."""

from __future__ import annotations

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.request import ComposeRequest
from cadenza.errors import ConfigError
from cadenza.families import get_family

__all__ = ["polyphony_limit"]


def polyphony_limit(request: ComposeRequest, loaded: LoadedCheckpoint) -> int:
    """At most this many notes at once: the request's cap (0: none), else the model's
    calibrated one (``config.json`` ``"generation"`` ``max_polyphony``), else none (0)."""
    if request.max_polyphony is not None or not get_family(loaded.model.family).grid:
        return request.max_polyphony or 0
    limit = loaded.setting("max_polyphony", None, 0.0)
    if limit != int(limit) or not 0 <= limit <= 128:
        raise ConfigError(f"{loaded.path / 'config.json'}: generation.max_polyphony must be a "
                          f"whole number in 0..128, got {limit:g}")
    return int(limit)
