"""The training progress bar: step/s, a smoothed loss and the time left."""

from __future__ import annotations

import time


class TrainingBar:
    """A rich progress bar showing step/s, loss and ETA."""

    def __init__(self, start: int, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} step/s  loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task = self._progress.add_task("train", total=total, completed=start,
                                             rate="-", loss="-")
        self._start = time.perf_counter()
        self._first = start
        self._ema: float | None = None
        self._progress.start()

    def update(self, step: int, loss: float) -> None:
        self._ema = loss if self._ema is None else 0.95 * self._ema + 0.05 * loss
        elapsed = time.perf_counter() - self._start
        rate = (step - self._first) / elapsed if elapsed > 0 else 0.0
        self._progress.update(self._task, completed=step, rate=f"{rate:.2f}",
                              loss=f"{self._ema:.4f}")

    def close(self) -> None:
        self._progress.stop()
