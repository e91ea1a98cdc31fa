"""A training run's folder: checked before a run starts, cleaned of what killed processes left,
its ``run.json`` record and primer bank, its ``latest.json`` / ``best.json`` pointers and the
pruning of old checkpoints. Its CSV log is :mod:`cadenza.runlog`'s.

The layout is described in :mod:`cadenza.training`; checkpoints and pointers are written by
:mod:`cadenza.checkpoint`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cadenza.checkpoint import read_pointer, write_pointer
from cadenza.errors import ConfigError
from cadenza.fileio import read_json_object, remove_stale, write_json_atomic
from cadenza.generation.primerbank import PRIMER_FOLDER, PRIMER_INDEX, Primer, write_primer_bank
from cadenza.runlog import LOG_FILE, append_log_row, truncate_log
from cadenza.runwrites import RunWriteError, writing

log = logging.getLogger(__name__)

__all__ = [
    "LEFTOVER_AGE_SECONDS",
    "LOG_FILE",
    "RunWriteError",
    "append_log_row",
    "check_run_folder",
    "point_at",
    "prepare_run_folder",
    "prune_checkpoints",
    "remove_leftovers",
    "truncate_log",
]


def check_run_folder(run_dir: Path, preset: str, resume: bool) -> None:
    """Refuse, before any data is read, a run folder that cannot take this run.

    ``--out`` must be a folder (or not exist yet) whose parent can be written; with
    ``resume``, its ``run.json`` must be readable and name the same preset.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: exists and is not a folder; choose another --out")
    parent = run_dir if run_dir.exists() else _existing_parent(run_dir)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{run_dir}: cannot write in {parent}; choose another --out")
    run_json = run_dir / "run.json"
    if resume and run_json.is_file():
        saved = read_json_object(run_json, ConfigError, "run record")
        if saved.get("preset") != preset:
            raise ConfigError(
                f"{run_dir} holds a {saved.get('preset')!r} run, not {preset!r}; "
                "resume with the same --model"
            )


def prepare_run_folder(
    run_dir: Path, run_info: dict[str, Any], resume: bool, primers: Sequence[Primer] = ()
) -> None:
    """Make ``run_dir`` ready for a run: checked (:func:`check_run_folder`), created, cleaned
    of leftovers, with its ``run.json`` and primer bank written where they are missing.

    Raises:
        ConfigError: the folder cannot take the run, or holds one and ``resume`` is false.
        RunWriteError: something could not be written (a full disk); what this call had
            made (the folder, ``run.json``) is removed again, so a new attempt starts clean.
    """
    check_run_folder(run_dir, str(run_info.get("preset", "")), resume)
    run_json = run_dir / "run.json"
    if not resume and (run_json.exists() or (run_dir / "latest.json").exists()):
        raise ConfigError(
            f"{run_dir}: a training run already lives here; pass --resume to "
            "continue it or choose another --out"
        )
    new_folder = not run_dir.exists()
    made: list[Path] = []
    try:
        with writing(run_dir, "run folder"):
            run_dir.mkdir(parents=True, exist_ok=True)
        remove_leftovers(run_dir)
        if not run_json.exists():
            with writing(run_json, "run record"):
                write_json_atomic(run_json, run_info)
            made.append(run_json)
        primer_dir = run_dir / PRIMER_FOLDER
        if primers and not (primer_dir / PRIMER_INDEX).is_file():
            with writing(primer_dir, "primer bank"):
                write_primer_bank(primer_dir, primers)
    except RunWriteError:
        _take_back(made, run_dir if new_folder else None)
        raise


def _take_back(files: list[Path], folder: Path | None) -> None:
    """Remove ``files``, then ``folder`` if it is empty (as best the disk allows)."""
    for path in files:
        with contextlib.suppress(OSError):
            path.unlink()
    if folder is not None:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _existing_parent(path: Path) -> Path:
    """The nearest folder above ``path`` that exists."""
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


LEFTOVER_AGE_SECONDS = 3600.0


def remove_leftovers(run_dir: Path, min_age: float = LEFTOVER_AGE_SECONDS) -> int:
    """Delete temporary files and folders that killed processes left in a run folder.

    Checkpoints are written to ``checkpoints/.step-*.tmp-*`` and renamed into place (the old
    one moved aside to ``.step-*.old-*`` first); pointers and logs go through
    ``.NAME.*.tmp`` files. Only leftovers older than ``min_age`` seconds are removed, so a
    run writing into the same folder right now (a torchrun rank) is never disturbed.
    Returns how many were removed.
    """
    candidates = [*run_dir.glob(".*.tmp"), *(run_dir / "checkpoints").glob(".step-*.tmp-*"),
                  *(run_dir / "checkpoints").glob(".step-*.old-*")]
    removed = remove_stale(candidates, min_age)
    if removed:
        log.info("removed %d leftover temporary file(s) in %s", removed, run_dir)
    return removed


def point_at(
    run_dir: Path, checkpoint: Path, step: int, best: bool, valid_loss: float | None
) -> None:
    """``latest.json`` names ``checkpoint``; ``best.json`` too when it is the best so far
    (or when there is no best yet)."""
    write_pointer(run_dir, "latest.json", checkpoint, step=step)
    if best or read_pointer(run_dir, "best.json") is None:
        write_pointer(run_dir, "best.json", checkpoint, step=step, valid_loss=valid_loss)


def prune_checkpoints(run_dir: Path, keep_recent: int) -> None:
    """Delete checkpoint folders other than the ``keep_recent`` newest, the best and the latest."""
    keep = {read_pointer(run_dir, "best.json"), read_pointer(run_dir, "latest.json")}
    folders = sorted((run_dir / "checkpoints").glob("step-*"))
    recent = set(folders[-keep_recent:]) if keep_recent > 0 else set()
    for folder in folders:
        if folder not in recent and folder not in keep:
            shutil.rmtree(folder, ignore_errors=True)
