"""A training run's CSV log, ``log.csv``: one row per logged step and split.

Columns: ``step, split, loss, lr, metrics`` (``metrics`` as ``name=value;...``). A row is
appended whole or not at all; on ``--resume`` the log is cut back to the resumed step, and
lines a crash or a disk damaged (not UTF-8 text, no step number) are skipped and counted.
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

__all__ = ["LOG_FILE", "LOG_HEADER", "append_log_row", "read_log", "truncate_log"]

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


def read_log(path: Path) -> tuple[list[str], list[tuple[int, list[str]]], int]:
    """The header, the ``(step, row)`` pairs and the count of damaged lines of a log.

    A line that is not UTF-8 text, not CSV or has no step number is damaged; blank lines are
    not counted. A log without its header line gets :data:`LOG_HEADER`.
    """
    header = LOG_HEADER
    rows: list[tuple[int, list[str]]] = []
    damaged = 0
    for number, line in enumerate(path.read_bytes().splitlines()):
        try:
            fields = next(csv.reader([line.decode()]), [])
        except (UnicodeDecodeError, csv.Error):
            damaged += 1
            continue
        if not fields:
            continue
        if number == 0 and fields[0] == "step":
            header = fields
            continue
        try:
            rows.append((int(fields[0]), fields))
        except ValueError:
            damaged += 1
    return header, rows, damaged


def truncate_log(run_dir: Path, step: int) -> None:
    """Drop the ``log.csv`` rows after ``step`` (a resumed run writes them again); damaged
    lines (see :func:`read_log`) are dropped too, and reported in one line.

    Raises:
        RunWriteError: the log could not be read or written back.
    """
    path = run_dir / LOG_FILE
    if not path.exists():
        return
    with writing(path, WHAT):
        header, rows, damaged = read_log(path)
        kept = [header, *(row for row_step, row in rows if row_step <= step)]
        write_bytes_atomic(path, _csv_bytes(kept))
    if damaged:
        log.warning("%s: skipped %d damaged line(s) (not UTF-8 text or no step number)",
                    path, damaged)
