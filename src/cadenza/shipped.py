"""Models shipped inside the package (``cadenza/assets/models/<name>/``)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from cadenza.errors import CheckpointError

DEFAULT_MODEL = "biaxial-piano-wide"
STYLE_MODEL = "biaxial-styles"  # what a style asked for without a checkpoint composes with
# A shipped model's config.json names the step it was shipped at and, when recorded, its
# validation loss there. A run's checkpoint records the run's best so far instead
# (``best_step``, ``best_valid_loss``), which describes another checkpoint whenever the one
# shipped is not its run's best (biaxial-piano: step 1,250 of a run whose best was 4,000).
SHIPPED_STEP = "shipped_step"
SHIPPED_VALID_LOSS = "valid_loss_at_shipped_step"
RUN_BEST_KEYS = ("best_step", "best_valid_loss")


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


def style_model_path() -> Path:
    """The shipped style-conditioned model's checkpoint folder (for ``--style`` without a
    checkpoint).

    Raises:
        CheckpointError: this installation ships none.
    """
    models = shipped_models()
    if STYLE_MODEL not in models:
        raise CheckpointError(f"no checkpoint given and no shipped {STYLE_MODEL} model in "
                              f"{models_dir()} to compose a style with; pass a checkpoint "
                              "trained with --style-from")
    return models[STYLE_MODEL]


def model_card(name: str) -> dict[str, object]:
    """The JSON model card of a shipped model (empty when it has none)."""
    card = models_dir() / name / "card.json"
    return json.loads(card.read_text()) if card.is_file() else {}


def training_steps(info: dict[str, Any], card: dict[str, Any] | None = None) -> int:
    """Steps a model was trained for in all: a shipped model's card count (``training.steps``,
    e.g. ``"19,750 (...)"``; a shipped model may span several runs, so its checkpoint's
    ``step`` is only its last run's), else the checkpoint's ``step``."""
    training = (card or {}).get("training")
    steps = training.get("steps") if isinstance(training, dict) else None
    match = re.match(r"\s*([\d,]+)", str(steps)) if steps is not None else None
    if match:
        return int(match.group(1).replace(",", ""))
    return int(info.get("step", 0) or 0)


def validation_at_step(info: dict[str, Any]) -> tuple[int, float | None]:
    """A checkpoint's step and its validation loss there, when recorded: a shipped model's
    ``valid_loss_at_shipped_step``, or (an older config, or a run's checkpoint) the run's
    ``best_valid_loss`` when its ``best_step`` is this very step; else ``None``."""
    step = int(info.get(SHIPPED_STEP, info.get("step", 0)) or 0)
    if info.get(SHIPPED_VALID_LOSS) is not None:
        return step, float(info[SHIPPED_VALID_LOSS])
    best_step, best_loss = (info.get(key) for key in RUN_BEST_KEYS)
    if best_step is not None and int(best_step) == step and best_loss is not None:
        return step, float(best_loss)
    return step, None


def shipped_config(info: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's ``config.json`` as a shipped model keeps it: the run's best-so-far keys
    give way to ``shipped_step`` and (when known) ``valid_loss_at_shipped_step``; a config
    already in that form comes back unchanged."""
    step, loss = validation_at_step(info)
    shipped = {key: value for key, value in info.items()
               if key not in (*RUN_BEST_KEYS, SHIPPED_VALID_LOSS)}
    shipped[SHIPPED_STEP] = step
    if loss is not None:
        shipped[SHIPPED_VALID_LOSS] = loss
    return shipped
