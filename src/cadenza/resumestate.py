"""The trainer state saved beside a checkpoint's weights, to resume training exactly::

    trainer.safetensors   # optimiser tensors, the torch RNG state and, for a run that keeps a
                          # weight average, the training weights (``weights.NAME``)
    trainer.json          # optimiser hyper-parameters, NumPy RNG state, the loop's counters

A checkpoint composes without them; ``--resume`` needs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cadenza.errors import CheckpointError
from cadenza.fileio import write_json_atomic

TRAINER_FILE = "trainer.safetensors"
TRAINER_JSON = "trainer.json"
TRAINING_WEIGHT_PREFIX = "weights."  # training weights in the trainer state (averaged runs)


@dataclass
class TrainerState:
    """Everything besides the weights needed to resume training exactly."""

    optimizer: dict[str, Any]
    torch_rng: torch.Tensor
    numpy_rng: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    # The training weights when the checkpoint's own weights are a running average of them
    # (see cadenza.averaging); empty otherwise.
    weights: dict[str, torch.Tensor] = field(default_factory=dict)


def write_trainer_state(folder: Path, trainer: TrainerState) -> None:
    """Write ``trainer`` as :data:`TRAINER_FILE` and :data:`TRAINER_JSON` into ``folder``."""
    tensors, meta = _flatten_optimizer(trainer.optimizer)
    tensors["rng.torch"] = trainer.torch_rng.cpu()
    for name, value in trainer.weights.items():
        tensors[f"{TRAINING_WEIGHT_PREFIX}{name}"] = value.detach().cpu().contiguous()
    save_file(tensors, str(folder / TRAINER_FILE))
    write_json_atomic(
        folder / TRAINER_JSON,
        {"optimizer": meta, "numpy_rng": trainer.numpy_rng, "extra": trainer.extra},
    )


def load_trainer_state(checkpoint: Path) -> TrainerState:
    """Read the optimizer / RNG state written with a checkpoint."""
    tensor_path, json_path = checkpoint / TRAINER_FILE, checkpoint / TRAINER_JSON
    if not tensor_path.is_file() or not json_path.is_file():
        raise CheckpointError(f"{checkpoint}: no trainer state, cannot resume from it")
    try:
        tensors = load_file(str(tensor_path))
        meta = json.loads(json_path.read_text())
        optimizer = _unflatten_optimizer(tensors, meta["optimizer"])
        weights = {name[len(TRAINING_WEIGHT_PREFIX):]: value for name, value in tensors.items()
                   if name.startswith(TRAINING_WEIGHT_PREFIX)}
        return TrainerState(optimizer, tensors["rng.torch"], meta["numpy_rng"], meta["extra"],
                            weights)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{checkpoint}: damaged trainer state ({exc})") from None


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer ``state_dict`` into tensors (safetensors) and JSON metadata."""
    tensors: dict[str, torch.Tensor] = {}
    per_param: dict[str, dict[str, Any]] = {}
    for pid, slots in state["state"].items():
        scalars: dict[str, Any] = {}
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[key] = value
        per_param[str(pid)] = scalars
    return tensors, {"param_groups": state["param_groups"], "scalars": per_param}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for pid, scalars in meta["scalars"].items():
        state[int(pid)] = dict(scalars)
    for name, value in tensors.items():
        if not name.startswith("opt."):
            continue
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}
