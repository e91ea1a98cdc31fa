"""Writes of a training run that fail: a full disk, a folder made read-only, a quota spent.

Every file the trainer writes (the log, samples, checkpoints, pointers, ``run.json``, the
primer bank) goes through :func:`writing`, so that such a failure reaches the user as one
line naming the file and the reason (:class:`RunWriteError`, shown by the command line
without a traceback) instead of an ``OSError``'s traceback.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from cadenza.errors import CheckpointError, ConfigError
from cadenza.fileio import is_disk_full

__all__ = ["FirstFailure", "RunWriteError", "write_failure", "write_reason", "writing"]

T = TypeVar("T")


class RunWriteError(ConfigError):
    """A file of a training run could not be written; the message names it and the reason."""


def write_reason(exc: OSError, path: Path) -> str:
    """Why writing ``path`` failed, in a few words: how much space is left on a full disk,
    else the system's reason (``Read-only file system``)."""
    if is_disk_full(exc):
        try:
            free = f"{shutil.disk_usage(path.parent).free / 1e6:,.0f} MB free"
        except OSError:
            free = "free space unknown"
        return f"no space left on the disk ({free})"
    return exc.strerror or str(exc)


def write_failure(path: Path, what: str, exc: OSError) -> RunWriteError:
    """The one-line error for ``exc`` raised while writing ``path`` (the run's ``what``)."""
    return RunWriteError(f"{path}: cannot write the {what}: {write_reason(exc, path)}")


@contextmanager
def writing(path: Path, what: str) -> Iterator[None]:
    """Within it, an ``OSError`` becomes a :class:`RunWriteError` naming ``path`` (the run's
    ``what``: ``"training log"``, ``"pointer"``...). The writer inside must leave nothing
    half-made behind (an atomic write does not)."""
    try:
        yield
    except OSError as exc:
        raise write_failure(path, what, exc) from None


class FirstFailure:
    """Runs a training loop's writes until one fails, then keeps that failure and skips every
    write after it: the loop stops where it is, leaves the run folder as the failure found
    it (the last checkpoint intact) and reports the failure once.

    Attributes:
        error: the first write's failure (a :class:`RunWriteError`, or the
            :class:`~cadenza.errors.CheckpointError` of a checkpoint), or ``None``.
    """

    def __init__(self) -> None:
        self.error: RunWriteError | CheckpointError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def run(self, write: Callable[..., T], *args: Any) -> T | None:
        """``write(*args)``'s result; ``None`` when it failed or an earlier write had."""
        if self.error is not None:
            return None
        try:
            return write(*args)
        except (RunWriteError, CheckpointError) as exc:
            self.error = exc
            return None
