"""Models shipped inside the package (``cadenza/assets/models/<name>/``)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from cadenza.errors import CheckpointError

DEFAULT_MODEL = "biaxial-piano"


def models_dir() -> Path:
    """The folder holding the shipped checkpoints."""
    return Path(str(resources.files("cadenza"))) / "assets" / "models"


def primers_dir() -> Path:
    """The primers every shipped model uses (fragments of the music21 corpus)."""
    return Path(str(resources.files("cadenza"))) / "assets" / "primers"


def is_shipped(checkpoint: Path) -> bool:
    """True when ``checkpoint`` lies inside the package's shipped models folder."""
    try:
        checkpoint.resolve().relative_to(models_dir().resolve())
    except ValueError:
        return False
    return True


def shipped_models() -> dict[str, Path]:
    """Name -> checkpoint folder of every shipped model."""
    root = models_dir()
    if not root.is_dir():
        return {}
    return {
        p.name: p for p in sorted(root.iterdir()) if (p / "config.json").is_file()
    }


def default_model_path() -> Path:
    """The default shipped model's checkpoint folder.

    Raises:
        CheckpointError: this installation ships no model.
    """
    models = shipped_models()
    if DEFAULT_MODEL in models:
        return models[DEFAULT_MODEL]
    if models:
        return next(iter(models.values()))
    raise CheckpointError(
        f"no checkpoint given and no shipped model in {models_dir()}; pass a run folder "
        "or checkpoint (train one with `cadenza train`)"
    )


def model_card(name: str) -> dict[str, object]:
    """The JSON model card of a shipped model (empty when it has none)."""
    card = models_dir() / name / "card.json"
    return json.loads(card.read_text()) if card.is_file() else {}
