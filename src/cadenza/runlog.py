"""A training run's CSV log, ``log.csv``: one row per logged step and split.

Columns: ``step, split, loss, lr, metrics`` (``metrics`` as ``name=value;...``). A row is
appended whole or not at all; on ``--resume`` the log is cut back to the resumed step.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
from pathlib import Path

from cadenza.fileio import write_bytes_atomic
from cadenza.runwrites import write_failure, writing

log = logging.getLogger(__name__)

__all__ = ["LOG_FILE", "LOG_HEADER", "append_log_row", "truncate_log"]

LOG_FILE = "log.csv"
LOG_HEADER = ["step", "split", "loss", "lr", "metrics"]
WHAT = "training log"


def _csv_bytes(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


def append_log_row(
    run_dir: Path, step: int, split: str, loss: float, metrics: dict[str, float], lr: float
) -> None:
    """One row of ``log.csv`` (the header first in a new file).

    Raises:
        RunWriteError: the row could not be written; what was written of it is taken back.
    """
    path = run_dir / LOG_FILE
    new = not path.exists()
    extras = ";".join(f"{k}={v:.6g}" for k, v in sorted(metrics.items()))
    row = [str(step), split, f"{loss:.6f}", f"{lr:.6g}", extras]
    data = _csv_bytes([LOG_HEADER, row] if new else [row])
    size = 0 if new else path.stat().st_size
    try:
        with open(path, "ab") as handle:
            handle.write(data)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a folder that refuses writes may refuse this too
            if new:
                path.unlink(missing_ok=True)
            elif path.stat().st_size > size:
                os.truncate(path, size)
        raise write_failure(path, WHAT, exc) from None


def truncate_log(run_dir: Path, step: int) -> None:
    """Drop the ``log.csv`` rows after ``step`` (a resumed run writes them again); rows whose
    step is not a number are dropped too, with a warning.

    Raises:
        RunWriteError: the log could not be written back (it is left as it was).
    """
    path = run_dir / LOG_FILE
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    kept = rows[:1]
    for row in rows[1:]:
        if not row:
            continue
        try:
            row_step = int(row[0])
        except ValueError:
            log.warning("%s: dropping a row with a bad step %r", path, row[0])
            continue
        if row_step <= step:
            kept.append(row)
    with writing(path, WHAT):
        write_bytes_atomic(path, _csv_bytes(kept))
