"""Running the pipeline's jobs: in this process, or shared with helper processes.

:func:`run_jobs` runs one job over many arguments and returns the results in order, with a
progress bar; with more than one worker, cache hits are collected here first and only the
pieces needing work are shared (:mod:`cadenza.data.workshare`), and new results are stored
in the cache as they come (:class:`~cadenza.data.jobs.CacheWriter`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cadenza.data.jobs import CacheWriter, PieceResult, WorkerState, init_worker
from cadenza.data.workshare import WorkShare
from cadenza.errors import ConfigError


def resolve_workers(workers: int | None, jobs: int) -> int:
    """Worker processes to use: ``workers`` (default: CPU count), at most one per job."""
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    wanted = workers if workers is not None else (os.cpu_count() or 1)
    return max(1, min(wanted, jobs))


def _make_progress(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not show,
    )


def run_jobs(
    job: Callable[..., PieceResult],
    args: Sequence[tuple[Any, ...]],
    state: WorkerState,
    workers: int,
    show_progress: bool,
    label: str,
) -> list[PieceResult]:
    """Run ``job(*a)`` for each ``a`` in ``args`` and return the results in order.

    With one worker everything runs in this process. Otherwise cache hits are collected here
    first (``job(*a, cache_only=True)``) and only the pieces needing work are shared between
    this process and ``workers - 1`` helper processes, so a warm cache costs no
    inter-process copies.
    """
    with CacheWriter(state.cache) as writer:
        init_worker(state)
        try:
            if workers <= 1:
                return _run_here(job, args, show_progress, label, {}, writer)
            if state.cache is None or state.cache.is_empty():  # every lookup would miss
                results = [PieceResult("", pending=True) for _ in args]
            else:
                results = _run_here(job, args, show_progress, "checking cache",
                                    {"cache_only": True})
            todo = [i for i, result in enumerate(results) if result.pending]
            if todo:
                _run_shared(job, args, todo, results, (state, workers, show_progress, label),
                            writer)
            return results
        finally:
            init_worker(None)


def _run_shared(
    job: Callable[..., PieceResult],
    args: Sequence[tuple[Any, ...]],
    todo: list[int],
    results: list[PieceResult],
    settings: tuple[WorkerState, int, bool, str],
    writer: CacheWriter,
) -> None:
    """Fill ``results[i]`` for each ``i`` in ``todo``, here and in ``workers - 1`` helper
    processes (:class:`cadenza.data.workshare.WorkShare`), in chunks of up to 16 files."""
    state, workers, show_progress, label = settings
    share = WorkShare(job, [args[i] for i in todo], workers - 1, init_worker, (state,), 16)
    if state.cache is not None:
        state.cache.flush()  # no half-written pack may be shared with the helpers
    # The helpers fork on entering the share, before the progress bar starts its thread.
    with share, _make_progress(show_progress) as progress:
        task = progress.add_task(label, total=len(args), completed=len(args) - len(todo))

        def done(i: int, result: PieceResult) -> None:
            results[todo[i]] = result
            writer.add(result)
            progress.advance(task)

        share.run(done)


def _run_here(
    job: Callable[..., PieceResult],
    args: Sequence[tuple[Any, ...]],
    show_progress: bool,
    label: str,
    options: dict[str, Any],
    writer: CacheWriter | None = None,
) -> list[PieceResult]:
    """``job(*a, **options)`` for each ``a``, in this process, with a progress bar."""
    results = []
    with _make_progress(show_progress) as progress:
        task = progress.add_task(label, total=len(args))
        for a in args:
            results.append(result := job(*a, **options))
            if writer is not None:
                writer.add(result)
            progress.advance(task)
    return results


