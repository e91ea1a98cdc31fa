"""Folder (or benchmark file) -> validated, quantised, encoded, cached corpus.

:func:`build_corpus` runs in up to three passes:

1. read every MIDI file (content hash, validation, metre filter, quantisation); a
   representation without a vocabulary also encodes in this pass;
2. fit the representation's vocabulary on the *training* split, when it needs one;
3. encode every piece with the fitted representation.

Passes 1 and 3 share their files between this process and ``workers - 1`` helper processes
(:mod:`cadenza.data.workshare`); results come back as cache entry bytes
(:mod:`cadenza.data.entries`). Scores and arrays are cached (see :mod:`cadenza.data.cache`).
Bad files, and files whose content an earlier file already has, are skipped, logged and
counted by reason; input files are only ever read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cadenza.data.boulanger import is_benchmark_file, load_benchmark
from cadenza.data.cache import (
    CacheStats,
    PieceCache,
    array_entry,
    array_from_entry,
    score_entry,
    score_from_entry,
)
from cadenza.data.composers import ComposerIndex
from cadenza.data.corpus import Corpus, CorpusConfig, Piece
from cadenza.data.split import TRAIN, assign_split
from cadenza.data.workshare import WorkShare
from cadenza.errors import CadenzaError, ConfigError, DataError, MidiError
from cadenza.midi import (
    ReadOptions,
    ReadSummary,
    load_piece_bytes,
    read_file_bytes,
)
from cadenza.midifolder import scan_midi_folder
from cadenza.representations.base import Representation
from cadenza.score import MeterFilterReport, Score, quantise

log = logging.getLogger(__name__)

UNENCODABLE = "unencodable"  # skip reason of a piece the representation rejects
DUPLICATE = "duplicate"  # skip reason of a file whose content an earlier file has
METRE_SKIP = "time-signature"  # skip reason of a file with no notes in the kept metres


# -- what travels between the main process and the workers -------------------------------------
@dataclass
class _WorkerState:
    """Set once per worker process by :func:`_init_worker`."""

    options: ReadOptions
    cache: PieceCache | None
    representation: Representation | None  # encode while reading when set
    fingerprint: str = ""


@dataclass
class _Result:
    """One piece's outcome: its score and array, or why it was skipped."""

    key: str
    content_hash: str = ""
    score: Score | None = None
    report: MeterFilterReport | None = None
    array: np.ndarray | None = None
    error: tuple[str, str, str] | None = None  # (path, reason, detail): MidiError's fields
    seconds: float | None = None  # the score's duration, worked out where the score was read
    stats: CacheStats = field(default_factory=CacheStats)
    pending: bool = False  # a cache-only lookup found work to do
    new_score_key: str | None = None  # the score was built here: cache it under this key
    new_array_key: str | None = None  # likewise for the encoded array
    # Entry bytes of the score and array (cadenza.data.entries), made at most once: for the
    # cache, and as the compact form in which results travel between processes.
    score_bytes: bytes | None = None
    array_bytes: bytes | None = None

    def score_entry(self) -> bytes:
        if self.score_bytes is None:
            assert self.score is not None and self.report is not None
            self.score_bytes = score_entry(self.score, self.report)
        return self.score_bytes

    def array_entry(self) -> bytes:
        if self.array_bytes is None:
            assert self.array is not None
            self.array_bytes = array_entry(self.array)
        return self.array_bytes

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the score and array as entry bytes: binary arrays travel as bits, 8x
        smaller, and the main process stores the same bytes in the cache."""
        state = self.__dict__.copy()
        if self.score is not None and self.report is not None:
            state["score_bytes"], state["score"] = self.score_entry(), None
        if self.array is not None:
            state["array_bytes"], state["array"] = self.array_entry(), None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.score is None and self.score_bytes is not None:
            self.score, _ = score_from_entry(self.score_bytes)
        if self.array is None and self.array_bytes is not None:
            self.array = array_from_entry(self.array_bytes)


_STATE: _WorkerState | None = None


def _init_worker(state: _WorkerState | None) -> None:
    global _STATE
    if state is not None and state.representation is not None:
        state.fingerprint = state.representation.fingerprint()
    _STATE = state


def _state() -> _WorkerState:
    if _STATE is None:
        raise RuntimeError("corpus worker used before _init_worker")
    return _STATE


def _read_job(key: str, path: str, cache_only: bool = False) -> _Result:
    """Pass 1 for one file: read, hash, validate, quantise (cached); encode if asked.

    With ``cache_only`` nothing is parsed or encoded: a result needing work comes back
    ``pending`` (and is thrown away), so the cheap cache hits never leave this process.
    """
    state = _state()
    result = _Result(key)
    try:
        data = read_file_bytes(path)
    except MidiError as err:
        result.error = (err.path, err.reason, err.detail)
        return result
    result.content_hash = hashlib.sha256(data).hexdigest()
    score_key = PieceCache.score_key(result.content_hash, state.options)
    cached = state.cache.load_score(score_key) if state.cache is not None else None
    if cached is not None:
        result.stats.score_hits += 1
        score, result.report = cached
        # Entries are shared by files of equal content: the name is this file's own.
        result.score = score.copy_with(name=Path(path).stem)
    elif cache_only:
        return _Result(key, pending=True)
    else:
        try:
            result.score, result.report = load_piece_bytes(data, state.options, path)
        except MidiError as err:
            result.error = (err.path, err.reason, err.detail)
            return result
        if state.cache is not None:
            result.stats.score_misses += 1
            result.new_score_key = score_key
    result.seconds = result.score.seconds()
    if state.representation is not None:
        _encode_into(result, path, cache_only)
    return result


def _encode_job(key: str, content_hash: str, score: Score, cache_only: bool = False) -> _Result:
    """Pass 3 for one piece: encode it with the fitted representation (cached)."""
    result = _Result(key, content_hash, score)
    _encode_into(result, key, cache_only)
    return result


def _encode_into(result: _Result, where: str, cache_only: bool) -> None:
    state = _state()
    rep = state.representation
    assert rep is not None and result.score is not None
    array_key = PieceCache.array_key(result.content_hash, state.options, state.fingerprint)
    if state.cache is not None:
        result.array = state.cache.load_array(array_key, rep.feature_shape)
        if result.array is not None:
            result.stats.array_hits += 1
            return
        if cache_only:
            result.pending = True
            return
        result.stats.array_misses += 1
    elif cache_only:
        result.pending = True
        return
    try:
        result.array = rep.encode(result.score)
    except CadenzaError as exc:
        result.error = (where, UNENCODABLE, str(exc))
        return
    if state.cache is not None:
        result.new_array_key = array_key


def _save(save: Callable[..., None], *args: Any) -> None:
    """Write a cache entry; a full disk or a read-only cache only costs speed."""
    try:
        save(*args)
    except OSError as exc:
        log.warning("cannot write to the cache (%s); continuing without it", exc)


class _CacheWriter:
    """Saves the entries of new results; only the main process writes the cache (worker
    results come back to it anyway), in packs (:mod:`cadenza.data.packs`)."""

    def __init__(self, cache: PieceCache | None) -> None:
        self.cache = cache

    def add(self, result: _Result) -> None:
        cache = self.cache
        if cache is None:
            return
        if result.new_score_key is not None:
            _save(cache.save_score, result.new_score_key, result.score_entry())
        if result.new_array_key is not None:
            _save(cache.save_array, result.new_array_key, result.array_entry())
        result.new_score_key = result.new_array_key = None
        result.score_bytes = result.array_bytes = None  # the store holds them now

    def __enter__(self) -> _CacheWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        """Write what was saved to disk (also when the run fails half-way)."""
        if self.cache is not None:
            self.cache.flush()


# -- running jobs ----------------------------------------------------------------------------
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


def _run(
    job: Callable[..., _Result],
    args: Sequence[tuple[Any, ...]],
    state: _WorkerState,
    workers: int,
    show_progress: bool,
    label: str,
) -> list[_Result]:
    """Run ``job(*a)`` for each ``a`` in ``args`` and return the results in order.

    With one worker everything runs in this process. Otherwise cache hits are collected here
    first (``job(*a, cache_only=True)``) and only the pieces needing work are shared between
    this process and ``workers - 1`` helper processes, so a warm cache costs no
    inter-process copies.
    """
    with _CacheWriter(state.cache) as writer:
        _init_worker(state)
        try:
            if workers <= 1:
                return _run_here(job, args, show_progress, label, {}, writer)
            if state.cache is None or state.cache.is_empty():  # every lookup would miss
                results = [_Result("", pending=True) for _ in args]
            else:
                results = _run_here(job, args, show_progress, "checking cache",
                                    {"cache_only": True})
            todo = [i for i, result in enumerate(results) if result.pending]
            if todo:
                _run_shared(job, args, todo, results, (state, workers, show_progress, label),
                            writer)
            return results
        finally:
            _init_worker(None)


def _run_shared(
    job: Callable[..., _Result],
    args: Sequence[tuple[Any, ...]],
    todo: list[int],
    results: list[_Result],
    settings: tuple[_WorkerState, int, bool, str],
    writer: _CacheWriter,
) -> None:
    """Fill ``results[i]`` for each ``i`` in ``todo``, here and in ``workers - 1`` helper
    processes (:class:`cadenza.data.workshare.WorkShare`), in chunks of up to 16 files."""
    state, workers, show_progress, label = settings
    share = WorkShare(job, [args[i] for i in todo], workers - 1, _init_worker, (state,), 16)
    if state.cache is not None:
        state.cache.flush()  # no half-written pack may be shared with the helpers
    # The helpers fork on entering the share, before the progress bar starts its thread.
    with share, _make_progress(show_progress) as progress:
        task = progress.add_task(label, total=len(args), completed=len(args) - len(todo))

        def done(i: int, result: _Result) -> None:
            results[todo[i]] = result
            writer.add(result)
            progress.advance(task)

        share.run(done)


def _run_here(
    job: Callable[..., _Result],
    args: Sequence[tuple[Any, ...]],
    show_progress: bool,
    label: str,
    options: dict[str, Any],
    writer: _CacheWriter | None = None,
) -> list[_Result]:
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


# -- the pipeline ----------------------------------------------------------------------------
def build_corpus(
    source: str | Path,
    representation: Representation,
    config: CorpusConfig | None = None,
    *,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: bool | None = None,
    steps_per_quarter: int | None = None,
    fit: bool | None = None,
) -> Corpus:
    """Read, split, fit and encode every piece of ``source``.

    Args:
        source: a folder of MIDI files (searched recursively), one MIDI file, or a benchmark
            set (``.json`` / ``.pickle``, see :mod:`cadenza.data.boulanger`).
        representation: encodes the pieces; fitted on the training split first as ``fit``
            says (so it is modified in place).
        config: metres, split fractions, augmentation range (defaults: 4/4, 0.8/0.1/0.1).
        workers: processes working (default ``os.cpu_count()``): this one and
            ``workers - 1`` helpers; 1 runs everything in this process.
        cache_dir: cache folder (default ``$CADENZA_CACHE_DIR`` or ``~/.cache/cadenza``).
        use_cache: read and write the cache.
        progress: show a progress bar (default: when stderr is a terminal).
        steps_per_quarter: grid of a benchmark set (default from its name).
        fit: learn the vocabulary from the training split before encoding. ``None`` (the
            default) fits only a representation that cannot encode yet; pass ``True`` when
            training from scratch (Events can encode unfitted, but fitting narrows its time
            deltas to those the data uses) and ``False`` to keep a checkpoint's vocabulary.

    Raises:
        MidiError: ``source`` does not exist.
        DataError: no usable piece, or no training piece to fit a vocabulary on.
    """
    config = config or CorpusConfig()
    source = Path(source)
    fit_first = _should_fit(representation, fit)
    show = sys.stderr.isatty() if progress is None else progress
    cache = PieceCache(cache_dir) if use_cache else None
    if is_benchmark_file(source):
        return _build_benchmark(
            source, representation, config, cache, workers, show, steps_per_quarter, fit_first
        )
    options = config.read_options(representation.config.steps_per_quarter)
    scan = scan_midi_folder(source)
    files = scan.files
    root = source if source.is_dir() else source.parent
    keys = [f.relative_to(root).as_posix() for f in files]
    summary = ReadSummary(files_found=len(files) + len(scan.skipped))
    for skipped in scan.skipped:  # named and counted beside the files that fail to read
        _skip((skipped.path, skipped.reason, skipped.detail), summary)
    state = _WorkerState(options, cache, None if fit_first else representation)
    n_workers = resolve_workers(workers, len(files))
    results = _run(_read_job, [(k, str(f)) for k, f in zip(keys, files, strict=True)], state,
                   n_workers, show, "reading")
    stats = _sum_stats(results)
    results = _drop_duplicates(_drop_failures(results, summary), summary)
    splits = {r.key: assign_split(r.key, config.split) for r in results}
    if not source.is_dir():  # one file: it is the whole corpus, to train on or to read
        splits = dict.fromkeys(splits, TRAIN)
    if fit_first and results:  # with no usable piece, _finish says why
        results = _fit_and_encode(
            results, splits, representation, state, n_workers, show, stats, summary, True
        )
    composers = ComposerIndex(root)
    pieces = [_piece(r, splits[r.key], composers.composer_of(r.key), summary)
              for r in results]
    return _finish(root, pieces, representation, config, summary, stats)


def _build_benchmark(
    source: Path,
    representation: Representation,
    config: CorpusConfig,
    cache: PieceCache | None,
    workers: int | None,
    show: bool,
    steps_per_quarter: int | None,
    fit: bool,
) -> Corpus:
    """The corpus of a benchmark set: its own splits, no composers, scores from steps."""
    spq = representation.config.steps_per_quarter
    options = ReadOptions(steps_per_quarter=spq, time_signatures=None, min_notes=0)
    results: list[_Result] = []
    splits: dict[str, str] = {}
    for split, scores in load_benchmark(source, steps_per_quarter).items():
        for score in scores:
            if score.ticks_per_quarter != spq:
                score = quantise(score, spq)
            results.append(_Result(score.name, _score_hash(score), score,
                                   MeterFilterReport(score.end_tick, 0, (), 0)))
            splits[score.name] = split
    summary = ReadSummary(files_found=len(results))
    state = _WorkerState(options, cache, None)
    stats = CacheStats()
    results = _fit_and_encode(
        results, splits, representation, state, resolve_workers(workers, len(results)), show,
        stats, summary, fit,
    )
    pieces = [_piece(r, splits[r.key], None, summary) for r in results]
    return _finish(source, pieces, representation, config, summary, stats)


def _fit_and_encode(
    results: list[_Result],
    splits: dict[str, str],
    representation: Representation,
    state: _WorkerState,
    workers: int,
    show: bool,
    stats: CacheStats,
    summary: ReadSummary,
    fit: bool,
) -> list[_Result]:
    """Passes 2 and 3: fit on the training split if asked, then encode every piece."""
    if fit:
        train = [r.score for r in results if splits[r.key] == TRAIN and r.score is not None]
        if not train:
            raise DataError(
                f"{representation.name} is fitted on the training split, but none of the "
                f"{len(results)} usable pieces fell in it; add files or raise the train fraction"
            )
        log.info("fitting %s on %d training pieces", representation.name, len(train))
        representation.fit(train)
    state.representation = representation
    encoded = _run(_encode_job, [(r.key, r.content_hash, r.score) for r in results], state,
                   workers, show, "encoding")
    stats.add(_sum_stats(encoded))
    for read, done in zip(results, encoded, strict=True):
        done.report, done.seconds = read.report, read.seconds
    return _drop_failures(encoded, summary)


def _should_fit(representation: Representation, fit: bool | None) -> bool:
    if fit is None:
        return not representation.is_fitted
    if not fit and not representation.is_fitted:
        raise DataError(
            f"{representation.name} has no vocabulary and fit=False: load a fitted one "
            "(from a checkpoint) or let the corpus fit it"
        )
    return fit


def _drop_failures(results: list[_Result], summary: ReadSummary) -> list[_Result]:
    """Log and count each failed result once; return the others.

    A damaged or unreadable file gets its own warning. Files left without notes by the
    time-signature filter are not damaged, and a folder of mixed metres has many: each is
    logged at INFO and one warning sums them up.
    """
    kept = []
    metre: list[str] = []
    for result in results:
        if result.error is None:
            kept.append(result)
            continue
        _skip(result.error, summary, quiet=result.error[1] == METRE_SKIP)
        if result.error[1] == METRE_SKIP:
            metre.append(Path(result.error[0]).name)
    if metre:
        log.warning(
            "skipping %s with no notes in the kept time signatures (%s); "
            "`--meters all` keeps every metre", _files(metre), _some(metre),
        )
    return kept


def _files(names: list[str]) -> str:
    return f"{len(names)} file{'s' * (len(names) > 1)}"


def _some(names: list[str]) -> str:
    """The first three names, and how many more."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _skip(error: tuple[str, str, str], summary: ReadSummary, quiet: bool = False) -> None:
    """Log a skipped file once (at INFO when ``quiet``) and count it under its reason."""
    err = MidiError(*error)
    log.log(logging.INFO if quiet else logging.WARNING, "skipping %s", err)
    summary.add_skip(err)


def _drop_duplicates(results: list[_Result], summary: ReadSummary) -> list[_Result]:
    """Keep the first file (in path order) of each content; skip and count the others.

    A copy of a piece in another split would leak training data into validation. Each copy
    is logged at INFO and one warning sums them up (a folder can hold whole copies of another).
    """
    first: dict[str, str] = {}
    kept = []
    copies: list[str] = []
    for result in results:
        original = first.setdefault(result.content_hash, result.key)
        if original == result.key:
            kept.append(result)
        else:
            _skip((result.key, DUPLICATE, f"same content as {original}"), summary, quiet=True)
            copies.append(result.key)
    if copies:
        log.warning("skipping %s whose content an earlier file has (%s)", _files(copies),
                    _some(copies))
    return kept


def _piece(result: _Result, split: str, composer: str | None, summary: ReadSummary) -> Piece:
    assert result.score is not None and result.report is not None and result.array is not None
    score = result.score.copy_with(composer=composer)
    summary.add_piece(score, result.report, result.seconds)
    return Piece(result.key, result.content_hash, composer, split, score, result.array)


def _finish(
    root: Path,
    pieces: list[Piece],
    representation: Representation,
    config: CorpusConfig,
    summary: ReadSummary,
    stats: CacheStats,
) -> Corpus:
    if not pieces:
        reasons = ", ".join(f"{n} {r}" for r, n in summary.skipped.most_common()) or "no files"
        raise DataError(f"{root}: no usable piece among {summary.files_found} ({reasons})")
    return Corpus(root, pieces, representation, config, summary, stats)


def _sum_stats(results: list[_Result]) -> CacheStats:
    total = CacheStats()
    for result in results:
        total.add(result.stats)
    return total


def _score_hash(score: Score) -> str:
    """Content hash of a score built in memory (benchmark pieces have no file of their own)."""
    digest = hashlib.sha256(f"{score.ticks_per_quarter}:".encode())
    digest.update(np.ascontiguousarray(score.notes).tobytes())
    return digest.hexdigest()
