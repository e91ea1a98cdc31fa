"""Folder (or benchmark file) -> validated, quantised, encoded, cached corpus.

:func:`build_corpus` runs in up to three passes:

1. read every MIDI file (content hash, validation, metre filter, quantisation); a
   representation without a vocabulary also encodes in this pass;
2. fit the representation's vocabulary on the *training* split, when it needs one;
3. encode every piece with the fitted representation.

Passes 1 and 3 share their files between this process and ``workers - 1`` helper processes
(:mod:`cadenza.data.runner`); what a worker does with one file is in :mod:`cadenza.data.jobs`,
and results come back as cache entry bytes (:mod:`cadenza.data.entries`). Scores and arrays
are cached (see :mod:`cadenza.data.cache`).
Bad files, and files whose content an earlier file already has, are skipped, logged and
counted by reason; input files are only ever read.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path

import numpy as np

from cadenza.data.boulanger import is_benchmark_file, load_benchmark
from cadenza.data.cache import CacheStats, PieceCache
from cadenza.data.composers import ComposerIndex
from cadenza.data.corpus import Corpus, CorpusConfig, Piece
from cadenza.data.jobs import UNENCODABLE as UNENCODABLE
from cadenza.data.jobs import PieceResult, WorkerState, encode_job, read_job
from cadenza.data.runner import resolve_workers as resolve_workers
from cadenza.data.runner import run_jobs
from cadenza.data.split import TRAIN, assign_split
from cadenza.errors import DataError, MidiError
from cadenza.midi import ReadOptions, ReadSummary
from cadenza.midifolder import scan_midi_folder
from cadenza.representations.base import Representation
from cadenza.score import MeterFilterReport, Score, quantise

log = logging.getLogger(__name__)

DUPLICATE = "duplicate"  # skip reason of a file whose content an earlier file has
METRE_SKIP = "time-signature"  # skip reason of a file with no notes in the kept metres


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
    state = WorkerState(options, cache, None if fit_first else representation)
    n_workers = resolve_workers(workers, len(files))
    results = run_jobs(read_job, [(k, str(f)) for k, f in zip(keys, files, strict=True)], state,
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
    results: list[PieceResult] = []
    splits: dict[str, str] = {}
    for split, scores in load_benchmark(source, steps_per_quarter).items():
        for score in scores:
            if score.ticks_per_quarter != spq:
                score = quantise(score, spq)
            results.append(PieceResult(score.name, _score_hash(score), score,
                                   MeterFilterReport(score.end_tick, 0, (), 0)))
            splits[score.name] = split
    summary = ReadSummary(files_found=len(results))
    state = WorkerState(options, cache, None)
    stats = CacheStats()
    results = _fit_and_encode(
        results, splits, representation, state, resolve_workers(workers, len(results)), show,
        stats, summary, fit,
    )
    pieces = [_piece(r, splits[r.key], None, summary) for r in results]
    return _finish(source, pieces, representation, config, summary, stats)


def _fit_and_encode(
    results: list[PieceResult],
    splits: dict[str, str],
    representation: Representation,
    state: WorkerState,
    workers: int,
    show: bool,
    stats: CacheStats,
    summary: ReadSummary,
    fit: bool,
) -> list[PieceResult]:
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
    encoded = run_jobs(encode_job, [(r.key, r.content_hash, r.score) for r in results], state,
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


def _drop_failures(results: list[PieceResult], summary: ReadSummary) -> list[PieceResult]:
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


def _drop_duplicates(results: list[PieceResult], summary: ReadSummary) -> list[PieceResult]:
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


def _piece(result: PieceResult, split: str, composer: str | None, summary: ReadSummary) -> Piece:
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


def _sum_stats(results: list[PieceResult]) -> CacheStats:
    total = CacheStats()
    for result in results:
        total.add(result.stats)
    return total


def _score_hash(score: Score) -> str:
    """Content hash of a score built in memory (benchmark pieces have no file of their own)."""
    digest = hashlib.sha256(f"{score.ticks_per_quarter}:".encode())
    digest.update(np.ascontiguousarray(score.notes).tobytes())
    return digest.hexdigest()
