"""A training run's folder: checked before a run starts, cleaned of what killed processes left.

The layout is described in :mod:`cadenza.training`; checkpoints and pointers are written by
:mod:`cadenza.checkpoint`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cadenza.errors import ConfigError
from cadenza.fileio import read_json_object, remove_stale

log = logging.getLogger(__name__)

__all__ = ["LEFTOVER_AGE_SECONDS", "check_run_folder", "remove_leftovers"]


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
