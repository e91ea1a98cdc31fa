"""Checkpoints: safetensors weights + JSON config, trainer state kept apart; atomic writes.

A checkpoint is a folder::

    step-000500/
      model.safetensors   # weights only (safe to receive from anyone: no pickle)
      config.json         # model config, representation (config + vocabulary), data and
                          # training settings, step, metrics, SHA-256 of model.safetensors
      trainer.safetensors # optimizer tensors and the torch RNG state (resuming only)
      trainer.json        # optimizer hyper-parameters, NumPy RNG state, counters

The folder is written under a temporary name and renamed into place, so a crash never
leaves a half-written checkpoint. A training run folder holds ``checkpoints/step-*`` plus
``latest.json`` and ``best.json`` pointers (also replaced atomically). The trainer state's
two files are :mod:`cadenza.resumestate`'s.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cadenza.budget import BYTES_PER_VALUE, check_loading_memory
from cadenza.errors import CheckpointError, ConfigError, DataError
from cadenza.fileio import (
    disk_full_message,
    is_disk_full,
    read_json_object,
    sha256_file,
    write_json_atomic,
)
from cadenza.models.base import ModelConfig, SequenceModel
from cadenza.models.registry import build_model, config_from_dict
from cadenza.representations.base import Representation, load_representation
from cadenza.resumestate import (
    TRAINER_FILE,
    TRAINER_JSON,
    TRAINING_WEIGHT_PREFIX,
    TrainerState,
    load_trainer_state,
    write_trainer_state,
)
from cadenza.runwrites import write_reason, writing

log = logging.getLogger(__name__)

__all__ = [  # the trainer state's names are cadenza.resumestate's, exported here too
    "CONFIG_FILE",
    "MODEL_FILE",
    "TRAINER_FILE",
    "TRAINER_JSON",
    "TRAINING_WEIGHT_PREFIX",
    "LoadedCheckpoint",
    "TrainerState",
    "discover_checkpoints",
    "generation_default",
    "init_from",
    "load_checkpoint",
    "load_trainer_state",
    "load_weights",
    "read_info",
    "read_pointer",
    "resolve_checkpoint",
    "save_checkpoint",
    "saved_model_config",
    "write_pointer",
]

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1


@dataclass
class LoadedCheckpoint:
    """What :func:`load_checkpoint` returns."""

    path: Path
    model: SequenceModel
    representation: Representation
    info: dict[str, Any]  # the whole config.json

    @property
    def step(self) -> int:
        return int(self.info.get("step", 0))

    @property
    def preset(self) -> str:
        return str(self.info.get("preset", ""))

    def generation_default(self, name: str, fallback: float) -> float:
        """A sampling setting calibrated for this model (``config.json`` ``"generation"``,
        e.g. a piano-roll model's threshold), else ``fallback``."""
        return generation_default(self.info, name, fallback, self.path)

    def setting(self, name: str, asked: float | None, fallback: float) -> float:
        """The sampling setting ``name``: ``asked`` where a request sets it, else the one
        calibrated for this model (:meth:`generation_default`), else ``fallback``."""
        return self.generation_default(name, fallback) if asked is None else float(asked)


def generation_default(info: dict[str, Any], name: str, fallback: float,
                       source: str | Path) -> float:
    """The sampling setting ``name`` calibrated for a model, from its ``config.json`` record
    ``info`` (``"generation"``), else ``fallback``; a value that is not a number is logged
    (naming ``source``) and ignored."""
    defaults = info.get("generation")
    value = defaults.get(name) if isinstance(defaults, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if value is not None:
        log.warning("%s: ignoring generation default %s=%r", source, name, value)
    return fallback


# -- writing ---------------------------------------------------------------------------------
def save_checkpoint(
    path: str | Path,
    model: SequenceModel,
    representation: Representation,
    info: dict[str, Any],
    trainer: TrainerState | None = None,
    attachments: Sequence[Path] = (),
) -> Path:
    """Write a checkpoint folder at ``path`` atomically (replacing an older one there).

    ``attachments``: files or folders copied into the checkpoint under their own names (a
    run's primer bank), so the folder is complete on its own.

    Raises:
        CheckpointError: the folder could not be written (a full disk, a read-only folder);
            nothing half-written is left and an older checkpoint at ``path`` is kept.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
        _write_checkpoint_files(tmp, model, representation, info, attachments)
        if trainer is not None:
            write_trainer_state(tmp, trainer)
        _put_in_place(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(exc):  # the previous checkpoint (if any) is untouched
            needed = sum(t.numel() * t.element_size() for t in model.state_dict().values())
            factor = 3 if trainer is not None else 1  # Adam keeps two moments per weight
            raise CheckpointError(
                f"saving the checkpoint failed: {disk_full_message(path.parent, needed * factor)}"
                "; nothing half-written was kept") from None
        if isinstance(exc, OSError):
            raise CheckpointError(
                f"saving the checkpoint failed: {path}: cannot write the checkpoint: "
                f"{write_reason(exc, path)}; nothing half-written was kept") from None
        raise
    return path


def _write_checkpoint_files(
    folder: Path,
    model: SequenceModel,
    representation: Representation,
    info: dict[str, Any],
    attachments: Sequence[Path],
) -> None:
    """The weights, the config and the attachments of a checkpoint, written into ``folder``."""
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(folder / MODEL_FILE))
    full = dict(info)
    full.update(
        format_version=FORMAT_VERSION,
        family=model.family,
        model=model.config.to_dict(),
        representation=representation.to_dict(),
        weights_sha256=sha256_file(folder / MODEL_FILE),
    )
    write_json_atomic(folder / CONFIG_FILE, full)
    for attachment in attachments:
        if attachment.is_dir():
            shutil.copytree(attachment, folder / attachment.name)
        elif attachment.is_file():
            shutil.copy2(attachment, folder / attachment.name)


def _put_in_place(tmp: Path, path: Path) -> None:
    """Rename the finished folder ``tmp`` to ``path``; an older folder there is moved aside
    first (and back if the rename fails), then removed."""
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        if old is not None:
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- reading ---------------------------------------------------------------------------------
def resolve_checkpoint(path: str | Path) -> Path:
    """Accept a run folder (its best, else latest checkpoint), a checkpoint folder, a file, or
    the name of a shipped model (``biaxial-piano``) where no such path exists.

    Raises:
        CheckpointError: nothing usable is found at ``path``.
    """
    from cadenza.shipped import shipped_models

    path = Path(path)
    if not path.exists():
        shipped = shipped_models()
        if str(path) in shipped:
            return shipped[str(path)]
        names = ", ".join(shipped) or "none"
        raise CheckpointError(
            f"{path}: no such checkpoint, run folder or file, nor a shipped model ({names})")
    if path.is_file():
        if path.name in (MODEL_FILE, CONFIG_FILE):
            return path.parent
        raise CheckpointError(f"{path}: expected {MODEL_FILE}, {CONFIG_FILE} or a folder")
    if (path / CONFIG_FILE).is_file():
        if not (path / MODEL_FILE).is_file():
            raise CheckpointError(f"{path / MODEL_FILE}: missing (the weights of this checkpoint)")
        return path
    for pointer in ("best.json", "latest.json"):
        target = read_pointer(path, pointer)
        if target is not None:
            return target
    raise CheckpointError(f"{path}: not a checkpoint (no {CONFIG_FILE}) and no checkpoints in it")


def read_pointer(run_dir: Path, name: str) -> Path | None:
    """The checkpoint a ``latest.json`` / ``best.json`` pointer names, if it exists.

    A pointer names a folder of its own run folder, by a path relative to it. One that names
    a path elsewhere (absolute, or climbing out with ``..``: another run's weights) is refused
    with a warning and counts as naming nothing; the check is on the path as written, so a
    ``checkpoints`` folder linked to another disk still works.

    Raises:
        CheckpointError: the pointer file is not JSON or has no ``checkpoint`` path.
    """
    pointer = run_dir / name
    if not pointer.is_file():
        return None
    try:
        named = json.loads(pointer.read_text())["checkpoint"]
        relative = Path(named)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{pointer}: damaged pointer file ({exc})") from None
    if relative.is_absolute() or os.path.normpath(relative).split(os.sep)[0] == os.pardir:
        log.warning("%s: names %s, outside its run folder; ignored", pointer, named)
        return None
    target = run_dir / relative
    return target if (target / CONFIG_FILE).is_file() else None


def write_pointer(run_dir: Path, name: str, checkpoint: Path, **extra: Any) -> None:
    """Point ``run_dir / name`` at ``checkpoint`` (a path inside ``run_dir``), atomically.

    Raises:
        RunWriteError: the pointer could not be written (the old one is left as it was).
    """
    with writing(run_dir / name, "pointer"):
        write_json_atomic(
            run_dir / name, {"checkpoint": checkpoint.relative_to(run_dir).as_posix(), **extra}
        )


def read_info(checkpoint: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint folder."""
    config_path = checkpoint / CONFIG_FILE
    info = read_json_object(config_path, CheckpointError, "checkpoint config")
    if "model" not in info or "representation" not in info:
        raise CheckpointError(f"{config_path}: not a cadenza checkpoint config")
    return info


def load_weights(model: SequenceModel, checkpoint: Path, expected_sha256: str | None,
                 new_heads: tuple[str, ...] = (),
                 saved_config: dict[str, Any] | None = None) -> None:
    """Load ``model.safetensors`` into ``model``, checking integrity and shapes.

    ``new_heads``: module names (``"velocity"``) the saved model lacked; their weights keep
    their fresh initialisation, every other weight must be in the file. ``saved_config``:
    the saved model's config, when the weights may be adapted to ``model``'s
    (:meth:`SequenceModel.adapt_weights`, for ``--init``).
    """
    weights_path = checkpoint / MODEL_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: missing")
    if expected_sha256 and sha256_file(weights_path) != expected_sha256:
        raise CheckpointError(f"{weights_path}: damaged (SHA-256 does not match config.json)")
    try:
        weights = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights_path}: damaged safetensors file ({exc})") from None
    if saved_config is not None:
        try:
            weights = model.adapt_weights(saved_config, weights)
        except CheckpointError as exc:
            raise CheckpointError(f"{weights_path}: {exc}") from None
    own = model.state_dict()
    missing = sorted(k for k in set(own) - set(weights) if k.split(".")[0] not in new_heads)
    unexpected = sorted(set(weights) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights_path}: weights do not match the {model.family} model "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for key, value in weights.items():
        if own[key].shape != value.shape:
            raise CheckpointError(
                f"{weights_path}: {key} has shape {tuple(value.shape)}, "
                f"the model expects {tuple(own[key].shape)}"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{weights_path}: {key} holds NaN or infinite values")
    model.load_state_dict(weights, strict=not new_heads)


# Representation fields a fine-tune may add to the saved model's, each with the model module
# it brings (initialised fresh): a biaxial model learns dynamics on top of its notes.
ADDABLE_HEADS = {"velocity_bins": "velocity"}


def load_checkpoint(
    path: str | Path, expect: ModelConfig | None = None, device: str | torch.device = "cpu"
) -> LoadedCheckpoint:
    """Rebuild the model and representation saved at ``path`` (see :func:`resolve_checkpoint`).

    ``expect``: when given, the saved model config must equal it (``CheckpointError`` if not).
    """
    checkpoint = resolve_checkpoint(path)
    info = read_info(checkpoint)
    config_path = checkpoint / CONFIG_FILE
    for key in ("model", "representation"):
        if not isinstance(info[key], dict):
            raise CheckpointError(f"{config_path}: {key!r} must be a mapping, got "
                                  f"{type(info[key]).__name__}")
    try:
        config = config_from_dict(info["model"])
        representation = load_representation(info["representation"])
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: {exc}") from None
    if expect is not None and expect.to_dict() != config.to_dict():
        raise CheckpointError(
            f"{checkpoint}: saved model config does not match the requested one "
            f"({_first_difference(config.to_dict(), expect.to_dict())})"
        )
    check_parameter_memory(config, checkpoint / MODEL_FILE)
    model = build_model(config)
    load_weights(model, checkpoint, info.get("weights_sha256"))
    model.to(device).eval()
    return LoadedCheckpoint(checkpoint, model, representation, info)


def check_parameter_memory(config: ModelConfig, weights_path: Path) -> None:
    """Refuse a config whose parameters the weights file cannot hold, or this machine's memory
    cannot, before allocating them.

    The parameters are counted without allocating (:func:`cadenza.budget.count_parameters`:
    shapes on PyTorch's ``meta`` device, deep stacks from one and two layers) and compared
    with the memory available and the size of ``model.safetensors``: a config edited to
    ``hidden_sizes: [100000, 100000]`` or ``num_layers: 100000`` would otherwise allocate
    tens of GB, or build layers for minutes, first.
    """
    where = weights_path.parent / CONFIG_FILE
    try:
        parameters = check_loading_memory(config, str(where))
    except (ConfigError, TypeError, ValueError) as exc:
        message = str(exc)
        raise CheckpointError(message if message.startswith(str(where))
                              else f"{where}: {message}") from None
    needed = parameters * BYTES_PER_VALUE
    size = weights_path.stat().st_size if weights_path.is_file() else 0
    if needed > size:
        raise CheckpointError(
            f"{where}: its model needs {needed:,} bytes of weights "
            f"but {weights_path.name} holds {size:,}; the config does not belong to these weights"
        )


def init_from(
    model: SequenceModel, path: str | Path, representation: Representation | None = None
) -> Path:
    """Copy the weights saved at ``path`` into ``model`` to fine-tune or continue training.

    ``path`` is anything :func:`resolve_checkpoint` accepts, or the name of a shipped model.
    The architecture must match (same family, same weight shapes) and, when
    ``representation`` is given, so must the saved one (note range, grid, vocabulary); window,
    batch size and data may differ. Returns the checkpoint folder used.

    Raises:
        CheckpointError: nothing usable at ``path`` or the weights do not fit ``model``.
    """
    checkpoint = resolve_checkpoint(path)
    info = read_info(checkpoint)
    family = info["model"].get("family") if isinstance(info["model"], dict) else None
    if family != model.family:
        raise CheckpointError(
            f"{checkpoint}: holds a {family!r} model, cannot initialise a {model.family!r} one"
        )
    new_heads: list[str] = []
    if representation is not None:
        saved, wanted = _saved_representation(info), representation.to_dict()
        if isinstance(saved, dict) and isinstance(saved.get("config"), dict):
            for field_name, head in ADDABLE_HEADS.items():  # added on top: fine
                old, new = saved["config"].get(field_name), wanted["config"].get(field_name)
                if not old and new:
                    saved = {**saved, "config": {**saved["config"], field_name: new}}
                    new_heads.append(head)
        if saved != wanted:
            difference = (_first_difference(saved, wanted) if isinstance(saved, dict)
                          else "saved representation is not a mapping")
            raise CheckpointError(
                f"{checkpoint}: its representation differs from this run's ({difference})"
            )
    load_weights(model, checkpoint, info.get("weights_sha256"), tuple(new_heads),
                 info["model"] if isinstance(info["model"], dict) else None)
    return checkpoint


def _saved_representation(info: dict[str, Any]) -> Any:
    """The saved representation config as this version writes it (fields added since the
    checkpoint was written take their defaults), or the raw value when it cannot be read."""
    try:
        return load_representation(info["representation"]).to_dict()
    except (ConfigError, DataError, TypeError, ValueError, KeyError):
        return info.get("representation")


def saved_model_config(info: dict[str, Any]) -> Any:
    """The saved model config as this version writes it (see :func:`_saved_representation`)."""
    try:
        return json.loads(json.dumps(config_from_dict(info["model"]).to_dict()))
    except (ConfigError, TypeError, ValueError, KeyError):
        return info.get("model")


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"{key}: saved {a.get(key)!r}, requested {b.get(key)!r}"
    return "no difference"


MAX_SCAN_DEPTH = 4  # folders below a runs folder searched for runs and checkpoints
RUN_POINTERS = ("best.json", "latest.json")


def discover_checkpoints(root: Path, max_depth: int = MAX_SCAN_DEPTH) -> dict[str, Path]:
    """Run and checkpoint folders under ``root``: id (relative path) -> checkpoint folder.

    A run folder (with ``best.json`` / ``latest.json``) stands for its own checkpoints; other
    folders holding ``config.json`` and ``model.safetensors`` are checkpoints of their own.
    Hidden folders and folders deeper than ``max_depth`` are not searched. Folders that
    cannot be resolved are logged and skipped.
    """
    found: dict[str, Path] = {}
    root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        relative = here.relative_to(root)
        model_id = relative.as_posix() if relative.parts else root.name
        names = set(filenames)
        is_run = any(p in names for p in RUN_POINTERS)
        is_checkpoint = CONFIG_FILE in names and MODEL_FILE in names
        if is_run or is_checkpoint:
            dirnames[:] = []  # a run's own checkpoints are not listed separately
            try:
                found[model_id] = resolve_checkpoint(here)
            except CheckpointError as exc:
                log.warning("skipping %s: %s", here, exc)
            continue
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and len(relative.parts) < max_depth
        )
    return found
