"""On-disk cache of prepared scores and encoded arrays.

Two kinds of entry, each named by a SHA-256 key:

* ``scores/<key>.npz``: the validated, quantised score of a file and its metre report; the
  key hashes the file's content and the :class:`~cadenza.midi.ReadOptions`;
* ``arrays/<key>.npy``: the encoded array; the key also hashes the representation's
  fingerprint (configuration and vocabulary), so a new vocabulary means new entries.

Entries are plain NumPy files read with ``allow_pickle=False``, stored in a few pack files
under ``packs/`` (:class:`cadenza.data.packs.PackStore`: creating one file per entry was
most of the time of a cold build on slow disks). New entries are written by
:meth:`PieceCache.flush` (the corpus pipeline calls it after each pass), atomically. A
damaged entry or pack is logged and treated as a miss, so it is rebuilt. The cache folder
is, in order of precedence, the ``folder`` argument, ``$CADENZA_CACHE_DIR``, then
``~/.cache/cadenza``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadenza.data.packs import PackStore
from cadenza.errors import ConfigError
from cadenza.fileio import sha256_json
from cadenza.midi import ReadOptions
from cadenza.score import NOTE_DTYPE, Marker, MeterFilterReport, Score, TimeSignature
from cadenza.tempomap import TempoMap, as_tempo_map

log = logging.getLogger(__name__)

CACHE_ENV = "CADENZA_CACHE_DIR"
CACHE_FORMAT = 2  # bump when the layout or the meaning of an entry changes
# What np.load and the checks below raise on a truncated or tampered file (a forged header
# can ask for an impossible allocation).
_DAMAGE = (
    OSError, ValueError, EOFError, KeyError, TypeError, MemoryError, zipfile.BadZipFile,
    ConfigError,
)


def default_cache_dir(folder: str | Path | None = None) -> Path:
    """The cache folder: ``folder`` if given, else ``$CADENZA_CACHE_DIR``, else ~/.cache."""
    if folder is not None:
        return Path(folder).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cadenza"


@dataclass
class CacheStats:
    """Hits and misses of one corpus build, for scores and for encoded arrays."""

    score_hits: int = 0
    score_misses: int = 0
    array_hits: int = 0
    array_misses: int = 0

    def add(self, other: CacheStats) -> None:
        self.score_hits += other.score_hits
        self.score_misses += other.score_misses
        self.array_hits += other.array_hits
        self.array_misses += other.array_misses


class PieceCache:
    """Read and write cache entries under ``folder`` (see the module docstring)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = default_cache_dir(folder)
        self.store = PackStore(self.folder / "packs")

    def flush(self) -> None:
        """Write the entries saved since the last flush; a write error only costs speed."""
        try:
            self.store.flush()
        except OSError as exc:
            log.warning("cannot write to the cache in %s (%s); continuing without it",
                        self.folder, exc)

    # -- keys ----------------------------------------------------------------------------
    @staticmethod
    def score_key(content_hash: str, options: ReadOptions) -> str:
        return sha256_json(
            {"format": CACHE_FORMAT, "content": content_hash, "read": options.to_dict()}
        )

    @staticmethod
    def array_key(content_hash: str, options: ReadOptions, fingerprint: str) -> str:
        return sha256_json(
            {
                "format": CACHE_FORMAT,
                "content": content_hash,
                "read": options.to_dict(),
                "representation": fingerprint,
            }
        )

    @staticmethod
    def score_name(key: str) -> str:
        return f"scores/{key}.npz"

    @staticmethod
    def array_name(key: str) -> str:
        return f"arrays/{key}.npy"

    def _read(self, name: str) -> bytes | None:
        try:
            return self.store.get(name)
        except _DAMAGE as exc:
            self._discard(name, exc)
            return None

    # -- scores --------------------------------------------------------------------------
    def load_score(self, key: str) -> tuple[Score, MeterFilterReport] | None:
        """The cached score and metre report, or ``None`` on a miss or a damaged entry."""
        name = self.score_name(key)
        data = self._read(name)
        if data is None:
            return None
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as entry:
                members = {member: entry[member] for member in _SCORE_MEMBERS}
            return _score_from_entry(members)
        except _DAMAGE as exc:
            self._discard(name, exc)
            return None

    def save_score(self, key: str, score: Score, report: MeterFilterReport) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **_score_entry(score, report))
        self.store.put(self.score_name(key), buffer.getvalue())

    # -- arrays --------------------------------------------------------------------------
    def load_array(self, key: str, feature_shape: tuple[int, ...]) -> np.ndarray | None:
        """The cached array, or ``None`` on a miss or a damaged entry.

        An array whose shape after axis 0 is not ``feature_shape`` counts as damaged.
        """
        name = self.array_name(key)
        data = self._read(name)
        if data is None:
            return None
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
            if not isinstance(array, np.ndarray) or array.shape[1:] != feature_shape:
                raise ValueError(f"shape {getattr(array, 'shape', None)}, expected (N, "
                                 f"{', '.join(map(str, feature_shape))})")
            return array
        except _DAMAGE as exc:
            self._discard(name, exc)
            return None

    def save_array(self, key: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        self.store.put(self.array_name(key), buffer.getvalue())

    def _discard(self, name: str, exc: BaseException) -> None:
        log.warning("damaged cache entry %s in %s (%s); rebuilding it", name, self.folder, exc)
        self.store.discard(name)


# -- score <-> cache entry -------------------------------------------------------------------
_SCORE_MEMBERS = ("notes", "tempo_ticks", "tempo_qpm", "time_signatures", "header")


def _score_entry(score: Score, report: MeterFilterReport) -> dict[str, np.ndarray]:
    """A score and its metre report as plain arrays (tempo maps can be very long)."""
    header = {
        "name": score.name,
        "ticks_per_quarter": score.ticks_per_quarter,
        "markers": [[m.tick, m.text] for m in score.markers],
        "meta": score.meta,
        "report": {
            "kept_ticks": report.kept_ticks,
            "dropped_ticks": report.dropped_ticks,
            "dropped_signatures": list(report.dropped_signatures),
            "dropped_notes": report.dropped_notes,
        },
    }
    signatures = [[s.tick, s.numerator, s.denominator] for s in score.time_signatures]
    tempos = as_tempo_map(score.tempos)
    return {
        "notes": score.notes,
        "tempo_ticks": tempos.ticks,
        "tempo_qpm": tempos.qpm,
        "time_signatures": np.array(signatures, dtype=np.int64).reshape(-1, 3),
        "header": np.array(json.dumps(header)),
    }


def _score_from_entry(members: dict[str, np.ndarray]) -> tuple[Score, MeterFilterReport]:
    """Inverse of :func:`_score_entry`; raises ``ValueError``/``KeyError`` on bad content."""
    notes = members["notes"]
    if notes.dtype != NOTE_DTYPE or notes.ndim != 1:
        raise ValueError(f"notes have dtype {notes.dtype} and {notes.ndim} dimensions")
    header = json.loads(str(members["header"][()]))
    report = header["report"]
    tempos = TempoMap(members["tempo_ticks"], members["tempo_qpm"])
    score = Score(
        notes=notes,
        ticks_per_quarter=int(header["ticks_per_quarter"]),
        tempos=tempos,
        time_signatures=tuple(
            TimeSignature(tick, num, den)
            for tick, num, den in members["time_signatures"].reshape(-1, 3).tolist()
        ),
        markers=tuple(Marker(int(tick), str(text)) for tick, text in header["markers"]),
        name=str(header["name"]),
        meta={str(k): str(v) for k, v in header["meta"].items()},
    )
    return score, MeterFilterReport(
        kept_ticks=int(report["kept_ticks"]),
        dropped_ticks=int(report["dropped_ticks"]),
        dropped_signatures=tuple(str(s) for s in report["dropped_signatures"]),
        dropped_notes=int(report["dropped_notes"]),
    )
