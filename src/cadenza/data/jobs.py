"""What a worker of the corpus pipeline does with one file or piece, and what it hands back.

:func:`read_job` reads, hashes, validates and quantises one file (pass 1, encoding it too
when the representation needs no fitting); :func:`encode_job` encodes one piece with the
fitted representation (pass 3). Each returns a :class:`PieceResult`: the score and array, or
the reason it was skipped. Results travel between processes as cache entry bytes
(:mod:`cadenza.data.entries`), and :class:`CacheWriter` stores the new ones; only the main
process writes the cache. A worker's settings are set once per process by
:func:`init_worker`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cadenza.data.cache import (
    CacheStats,
    PieceCache,
    array_entry,
    array_from_entry,
    score_entry,
    score_from_entry,
)
from cadenza.errors import CadenzaError, MidiError
from cadenza.midi import ReadOptions, load_piece_bytes, read_file_bytes
from cadenza.representations.base import Representation
from cadenza.score import MeterFilterReport, Score

log = logging.getLogger(__name__)

UNENCODABLE = "unencodable"  # skip reason of a piece the representation rejects


@dataclass
class WorkerState:
    """Set once per worker process by :func:`init_worker`."""

    options: ReadOptions
    cache: PieceCache | None
    representation: Representation | None  # encode while reading when set
    fingerprint: str = ""


@dataclass
class PieceResult:
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


_STATE: WorkerState | None = None


def init_worker(state: WorkerState | None) -> None:
    global _STATE
    if state is not None and state.representation is not None:
        state.fingerprint = state.representation.fingerprint()
    _STATE = state


def _state() -> WorkerState:
    if _STATE is None:
        raise RuntimeError("corpus worker used before init_worker")
    return _STATE


def read_job(key: str, path: str, cache_only: bool = False) -> PieceResult:
    """Pass 1 for one file: read, hash, validate, quantise (cached); encode if asked.

    With ``cache_only`` nothing is parsed or encoded: a result needing work comes back
    ``pending`` (and is thrown away), so the cheap cache hits never leave this process.
    """
    state = _state()
    result = PieceResult(key)
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
        return PieceResult(key, pending=True)
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


def encode_job(key: str, content_hash: str, score: Score, cache_only: bool = False) -> PieceResult:
    """Pass 3 for one piece: encode it with the fitted representation (cached)."""
    result = PieceResult(key, content_hash, score)
    _encode_into(result, key, cache_only)
    return result


def _encode_into(result: PieceResult, where: str, cache_only: bool) -> None:
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


class CacheWriter:
    """Saves the entries of new results; only the main process writes the cache (worker
    results come back to it anyway), in packs (:mod:`cadenza.data.packs`)."""

    def __init__(self, cache: PieceCache | None) -> None:
        self.cache = cache

    def add(self, result: PieceResult) -> None:
        cache = self.cache
        if cache is None:
            return
        if result.new_score_key is not None:
            _save(cache.save_score, result.new_score_key, result.score_entry())
        if result.new_array_key is not None:
            _save(cache.save_array, result.new_array_key, result.array_entry())
        result.new_score_key = result.new_array_key = None
        result.score_bytes = result.array_bytes = None  # the store holds them now

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        """Write what was saved to disk (also when the run fails half-way)."""
        if self.cache is not None:
            self.cache.flush()


