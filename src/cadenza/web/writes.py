"""Writing a composition's files: a failure says which file and why, in one line.

Every file of a job (``job.json``, the MIDI, notes, score, WAV) is written atomically; when
a write fails (a full disk, a read-only folder) :class:`WriteFailed` carries a message such
as ``could not write notes.json in /data/compositions/3f2a…: no space left on the disk (0 MB
free); free some space and try again``. It is an ``OSError``, so callers that answer 507
for any storage problem keep doing so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cadenza.fileio import disk_full_message, is_disk_full


class WriteFailed(OSError):
    """Writing one of a job's files failed; the message names the file and the reason."""


def write_failure(path: Path, exc: BaseException, *, folder: bool = False) -> str:
    """One line: ``path`` (a file, or a folder written into) could not be written, and why."""
    where = path if folder else path.parent
    what = "the composition" if folder else path.name
    if is_disk_full(exc):
        return f"could not write {what} in {disk_full_message(where)}"
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"could not write {what} in {where}: {reason}"


def guarded_write(path: Path, write: Callable[[], Any]) -> None:
    """Run ``write`` (which writes ``path``); an ``OSError`` becomes :class:`WriteFailed`."""
    try:
        write()
    except WriteFailed:
        raise
    except OSError as exc:
        raise WriteFailed(write_failure(path, exc)) from exc
