"""What composed pieces and their models are called: file names and the model a sidecar
records."""

from __future__ import annotations

from pathlib import PurePath

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.generation.primerbank import Primer


def _shipped_name(loaded: LoadedCheckpoint) -> str | None:
    """A shipped model's name (``None`` for any other checkpoint)."""
    shipped = loaded.info.get("shipped_name")
    return shipped if isinstance(shipped, str) and shipped else None


def replay_name(loaded: LoadedCheckpoint) -> str:
    """What a sidecar records to load the model again: a shipped model's name (the same on
    every machine), else the checkpoint's path."""
    return _shipped_name(loaded) or str(loaded.path)


def model_name(loaded: LoadedCheckpoint) -> str:
    """What to call a model in file names: a shipped model's name, else its run folder's."""
    shipped = _shipped_name(loaded)
    if shipped:
        return shipped
    folder = loaded.path.parent.parent if loaded.path.parent.name == "checkpoints" else loaded.path
    return folder.name or loaded.preset or loaded.model.family


def base_name(loaded: LoadedCheckpoint, primer: Primer | None,
              melody: Primer | None = None, style: str | None = None) -> str:
    """``MODEL-COMPOSER-PRIMER`` (``MODEL-silence`` without a primer, ``MELODY-harmonised-MODEL``
    for a harmonised melody; ``MODEL-STYLE-...`` in a style), safe as a file name."""
    parts = [model_name(loaded), *([style] if style else [])]
    if melody is not None:
        parts = [PurePath(melody.name).stem, "harmonised", *parts]
    elif primer is None:
        parts.append("silence")
    else:
        if primer.composer:
            parts.append(primer.composer)
        parts.append(PurePath(primer.name).stem)  # a corpus piece's name is its path
    name = "-".join(parts)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120]
