"""On-disk cache of prepared scores and encoded arrays.

Two kinds of entry, each named by a SHA-256 key:

* ``scores/<key>``: the validated, quantised score of a file and its metre report; the
  key hashes the file's content and the :class:`~cadenza.midi.ReadOptions`;
* ``arrays/<key>``: the encoded array; the key also hashes the representation's
  fingerprint (configuration and vocabulary), so a new vocabulary means new entries.

Entries are plain arrays and a JSON header (:mod:`cadenza.data.entries`: no pickle, binary
arrays stored as bits), kept in a few pack files under ``packs/``
(:class:`cadenza.data.packs.PackStore`: creating one file per entry was most of the time
of a cold build on slow disks). New entries go into the pack in progress as they come;
:meth:`PieceCache.flush` (the corpus pipeline calls it after each pass) puts it in place,
atomically. A damaged entry or pack is logged and treated as a miss, so it is rebuilt.
The cache folder is, in order of precedence, the ``folder`` argument,
``$CADENZA_CACHE_DIR``, then ``~/.cache/cadenza``.
"""

from __future__ import annotations

import logging
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadenza.data.entries import EntryError, pack_entry, unpack_entry
from cadenza.data.packs import PackStore
from cadenza.errors import ConfigError
from cadenza.fileio import sha256_json
from cadenza.midi import ReadOptions
from cadenza.score import Marker, MeterFilterReport, Score, TimeSignature, notes_from_columns
from cadenza.tempomap import TempoMap, as_tempo_map

log = logging.getLogger(__name__)

CACHE_ENV = "CADENZA_CACHE_DIR"
CACHE_FORMAT = 5  # bump when the layout or the meaning of an entry changes
# What reading a pack member and the checks below raise on damaged or tampered bytes.
_DAMAGE = (
    OSError, ValueError, EOFError, KeyError, TypeError, MemoryError, zipfile.BadZipFile,
    NotImplementedError, RuntimeError, ConfigError, EntryError,
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

    def is_empty(self) -> bool:
        """No entry at all, on disk or waiting to be written (every lookup would miss)."""
        return self.store.is_empty()

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
        return f"scores/{key}"

    @staticmethod
    def array_name(key: str) -> str:
        return f"arrays/{key}"

    def _read(self, name: str) -> bytes | None:
        try:
            data = self.store.get(name)
            return None if data is None else unseal(name, data)
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
            return score_from_entry(data)
        except _DAMAGE as exc:
            self._discard(name, exc)
            return None

    def save_score(self, key: str, entry: bytes) -> None:
        """Store the bytes of :func:`score_entry` under ``key``."""
        name = self.score_name(key)
        self.store.put(name, seal(name, entry))

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
            return array_from_entry(data, feature_shape)
        except _DAMAGE as exc:
            self._discard(name, exc)
            return None

    def save_array(self, key: str, entry: bytes) -> None:
        """Store the bytes of :func:`array_entry` under ``key``."""
        name = self.array_name(key)
        self.store.put(name, seal(name, entry))

    def _discard(self, name: str, exc: BaseException) -> None:
        log.warning("damaged cache entry %s in %s (%s); rebuilding it", name, self.folder, exc)
        self.store.discard(name)


# -- checksums ---------------------------------------------------------------------------------
_SEAL = struct.Struct("<I")


def seal(name: str, entry: bytes) -> bytes:
    """``entry`` with a CRC-32 of its name and bytes appended: a flipped byte and an entry
    stored under another entry's name (swapped) are both caught by :func:`unseal`."""
    return entry + _SEAL.pack(zlib.crc32(name.encode() + entry))


def unseal(name: str, data: bytes) -> bytes:
    """The entry bytes of ``seal(name, entry)``.

    Raises:
        EntryError: the checksum does not match (damaged, or another entry's bytes).
    """
    if len(data) < _SEAL.size:
        raise EntryError(f"entry of {len(data)} bytes has no checksum")
    entry = data[: -_SEAL.size]
    (stored,) = _SEAL.unpack(data[-_SEAL.size:])
    if zlib.crc32(name.encode() + entry) != stored:
        raise EntryError("checksum mismatch: the entry is damaged or holds another entry's bytes")
    return entry


# -- scores and arrays <-> entries ------------------------------------------------------------
def array_entry(array: np.ndarray) -> bytes:
    """An encoded array as entry bytes (0/1 arrays are stored as bits)."""
    return pack_entry({"array": array})


def array_from_entry(data: bytes, feature_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Inverse of :func:`array_entry`; the shape after axis 0 is checked when given.

    Raises:
        EntryError: damaged bytes or an array of the wrong shape.
    """
    arrays, _ = unpack_entry(data)
    array = arrays.get("array")
    if array is None or array.ndim < 1:
        raise EntryError("no array in the entry")
    if feature_shape is not None and array.shape[1:] != feature_shape:
        raise EntryError(f"shape {array.shape}, expected (N, {', '.join(map(str, feature_shape))})")
    return array


def _narrow(column: np.ndarray) -> np.ndarray:
    """``column`` as int32 when its values fit (note times nearly always do), to halve it."""
    info = np.iinfo(np.int32)
    if len(column) == 0 or (info.min <= int(column.min()) and int(column.max()) <= info.max):
        return column.astype(np.int32)
    return column


def score_entry(score: Score, report: MeterFilterReport) -> bytes:
    """A score and its metre report as entry bytes (tempo maps can be very long)."""
    meta = {
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
    notes = score.notes
    arrays = {
        "start": _narrow(notes["start"]),
        "duration": _narrow(notes["duration"]),
        "pitch": notes["pitch"],
        "velocity": notes["velocity"],
        "tempo_ticks": tempos.ticks,
        "tempo_qpm": tempos.qpm,
        "time_signatures": np.array(signatures, dtype=np.int64).reshape(-1, 3),
    }
    return pack_entry(arrays, meta)


def score_from_entry(data: bytes) -> tuple[Score, MeterFilterReport]:
    """Inverse of :func:`score_entry`.

    Raises:
        EntryError, KeyError, ValueError, TypeError: damaged or inconsistent content.
    """
    arrays, header = unpack_entry(data)
    columns = [arrays[name] for name in ("start", "duration", "pitch", "velocity")]
    if len({c.shape for c in columns}) != 1 or columns[0].ndim != 1:
        raise EntryError(f"note columns of shapes {[c.shape for c in columns]}")
    report = header["report"]
    score = Score(
        notes=notes_from_columns(*columns),
        ticks_per_quarter=int(header["ticks_per_quarter"]),
        tempos=TempoMap(arrays["tempo_ticks"], arrays["tempo_qpm"]),
        time_signatures=tuple(
            TimeSignature(tick, num, den)
            for tick, num, den in arrays["time_signatures"].reshape(-1, 3).tolist()
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
