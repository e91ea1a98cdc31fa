"""A training run's CSV log, ``log.csv``: one row per logged step and split.

Columns: ``step, split, loss, lr, metrics`` (``metrics`` as ``name=value;...``).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from cadenza.fileio import write_bytes_atomic

log = logging.getLogger(__name__)

__all__ = ["LOG_FILE", "LOG_HEADER", "append_log_row", "truncate_log"]

LOG_FILE = "log.csv"
LOG_HEADER = ["step", "split", "loss", "lr", "metrics"]


def append_log_row(
    run_dir: Path, step: int, split: str, loss: float, metrics: dict[str, float], lr: float
) -> None:
    """One row of ``log.csv`` (the header first in a new file)."""
    path = run_dir / LOG_FILE
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(LOG_HEADER)
        extras = ";".join(f"{k}={v:.6g}" for k, v in sorted(metrics.items()))
        writer.writerow([step, split, f"{loss:.6f}", f"{lr:.6g}", extras])


def truncate_log(run_dir: Path, step: int) -> None:
    """Drop the ``log.csv`` rows after ``step`` (a resumed run writes them again); rows whose
    step is not a number are dropped too, with a warning."""
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
    data = io.StringIO()
    csv.writer(data).writerows(kept)
    write_bytes_atomic(path, data.getvalue().encode())
