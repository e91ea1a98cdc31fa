"""Loading a model for composing: checkpoints and their primer banks, cached by path."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from cadenza.checkpoint import LoadedCheckpoint, load_checkpoint, resolve_checkpoint
from cadenza.generation.primerbank import PrimerBank


def default_checkpoint() -> Path:
    """The default shipped model (raises when the package ships none)."""
    from cadenza.shipped import default_model_path

    return default_model_path()


@lru_cache(maxsize=8)
def _load(path: str) -> LoadedCheckpoint:
    return load_checkpoint(path)


def checkpoint_for(checkpoint: str | Path | None, style: str | None = None
                   ) -> str | Path | None:
    """The checkpoint a request composes with: its own, else for a style the shipped
    style-conditioned model, else ``None`` (the default shipped model)."""
    if checkpoint is None and style is not None:
        from cadenza.shipped import style_model_path

        return style_model_path()
    return checkpoint


def list_styles(checkpoint: str | Path | None) -> list[str]:
    """The styles ``checkpoint`` composes in (default: the shipped style-conditioned model's);
    empty for a model trained without styles."""
    model = load(checkpoint_for(checkpoint, "")).model
    return list(getattr(model.config, "styles", ()))


def load(checkpoint: str | Path | None) -> LoadedCheckpoint:
    """Load (and cache) a checkpoint; ``None`` means the default shipped model."""
    path = resolve_checkpoint(checkpoint) if checkpoint is not None else default_checkpoint()
    return _load(str(path.resolve()))


@lru_cache(maxsize=8)
def _bank(path: str) -> PrimerBank:
    return PrimerBank.for_checkpoint(_load(path))


def primer_bank(checkpoint: str | Path | None) -> PrimerBank:
    loaded = load(checkpoint)
    return _bank(str(loaded.path.resolve()))


def list_composers(checkpoint: str | Path | None) -> list[str]:
    """Composers whose held-out pieces can prime ``checkpoint``."""
    return primer_bank(checkpoint).composers()
