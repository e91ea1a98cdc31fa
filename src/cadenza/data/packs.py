"""A folder of pack files: many small named byte entries stored in few files.

Creating a file can cost a millisecond on a busy virtual machine (measured on the 2-core
development machine while training jobs ran), as much as reading and quantising a MIDI
piece, so a cache with one file per entry could spend most of a cold corpus build creating
files; fewer, larger files also keep the cache folder small and quick to list. A
:class:`PackStore` writes each new entry at once into a temporary uncompressed ZIP file,
so that the writing overlaps whatever else the process does, and keeps it in memory too;
:meth:`PackStore.flush` (or enough gathered entries) finishes the file and renames it into
place (``packs/<time>-<random>.zip``), so a pack appears whole or not at all. Reading
opens each pack once per process and reads members by name; ZIP's CRC-32 per member catches
damaged bytes.

* the newest pack wins when two hold the same name;
* a damaged pack (unreadable directory) is logged and deleted; a damaged member is dropped
  from the index (:meth:`PackStore.discard`) and left for the next compaction;
* when more than ``max_packs`` packs exist, a flush merges them into one, keeping only the
  live entries (so repeated builds do not pile up files or dead bytes);
* the store works after ``fork`` (open files are per process) and pickles without them;
  fork only while nothing is pending (flush first), so that no half-written pack is shared.

Only plain bytes are stored; :mod:`cadenza.data.cache` puts entries of
:mod:`cadenza.data.entries` in them (arrays and a JSON header, never pickle).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["PackStore"]

PACK_SUFFIX = ".zip"
TMP_SUFFIX = ".tmp"
STALE_TMP_SECONDS = 24 * 3600  # a pack still being written after a day was abandoned
MAX_ENTRY_BYTES = 1 << 30  # no single cached piece comes near a GiB


class PackStore:
    """Named byte entries in ``folder/*.zip`` packs (see the module docstring)."""

    def __init__(
        self,
        folder: str | Path,
        *,
        max_pending_bytes: int = 128 << 20,
        max_pending_entries: int = 4096,
        max_packs: int = 16,
    ) -> None:
        self.folder = Path(folder)
        self.max_pending_bytes = max_pending_bytes
        self.max_pending_entries = max_pending_entries
        self.max_packs = max_packs
        self._index: dict[str, Path] | None = None  # entry name -> pack holding it
        self._pending: dict[str, bytes] = {}
        self._pending_bytes = 0
        self._open: dict[Path, zipfile.ZipFile] = {}
        self._pid = os.getpid()
        self._stream: _NewPack | None = None  # the pack the pending entries are written to
        self._stream_stale = False  # it no longer matches them: rewrite them at the flush

    # -- pickling and fork: open files never travel ------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"] = {}
        state["_stream"] = None
        state["_stream_stale"] = bool(self._pending)
        return state

    def _zip(self, path: Path) -> zipfile.ZipFile:
        if os.getpid() != self._pid:  # a forked child: the parent's handles share offsets
            self._open, self._pid = {}, os.getpid()
        handle = self._open.get(path)
        if handle is None:
            handle = self._open[path] = zipfile.ZipFile(path)
        return handle

    # -- reading -------------------------------------------------------------------------------
    def get(self, name: str) -> bytes | None:
        """The bytes stored under ``name``, or ``None`` when there are none.

        Raises:
            zipfile.BadZipFile, OSError: the member is damaged (CRC mismatch, truncated pack);
                the caller decides whether to :meth:`discard` it.
        """
        pending = self._pending.get(name)
        if pending is not None:
            return pending
        path = self.index().get(name)
        if path is None:
            return None
        try:
            return self._read_member(path, name)
        except FileNotFoundError:  # another process compacted the packs away
            self.index().pop(name, None)
            return None
        except (zipfile.BadZipFile, OSError):  # a damaged member: the caller discards it
            raise
        except Exception as exc:  # anything else the ZIP reader raises: the pack is damaged
            log.warning("damaged cache pack %s (%s: %s); deleting it", path,
                        type(exc).__name__, exc)
            self._drop_pack(path)
            return None

    def _read_member(self, path: Path, name: str) -> bytes:
        """A member's bytes; only a stored (uncompressed, unencrypted) member no larger than
        :data:`MAX_ENTRY_BYTES` is read, so a forged header cannot make it inflate gigabytes."""
        handle = self._zip(path)
        info = handle.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise ValueError(f"member {name} is compressed or encrypted; packs store plainly")
        if info.file_size > MAX_ENTRY_BYTES:
            raise ValueError(f"member {name} claims {info.file_size:,} bytes")
        return handle.read(name)

    def is_empty(self) -> bool:
        """No entry at all, on disk or pending."""
        return not self._pending and not self.index()

    def discard(self, name: str) -> None:
        """Forget a damaged entry (its bytes stay in the pack until the next compaction)."""
        if self._pending.pop(name, None) is not None:
            self._stream_stale = True
        self.index().pop(name, None)

    def index(self) -> dict[str, Path]:
        """Entry name -> pack, read from every pack's ZIP directory once per store."""
        if self._index is None:
            self._index = {}
            for path in self._packs():
                try:
                    names = self._zip(path).namelist()
                except Exception as exc:  # whatever the ZIP reader raises: damaged
                    log.warning("damaged cache pack %s (%s: %s); deleting it", path,
                                type(exc).__name__, exc)
                    self._drop_pack(path)
                    continue
                for name in names:
                    self._index[name] = path
        return self._index

    def _packs(self) -> list[Path]:
        """Packs, oldest first (names start with the creation time). Temporary files left
        by a process killed while writing are deleted once they are a day old."""
        if not self.folder.is_dir():
            return []
        packs = []
        for path in self.folder.iterdir():
            if path.suffix == PACK_SUFFIX:
                if path.is_file():  # a FIFO or device named like a pack would hang the read
                    packs.append(path)
                else:
                    log.warning("ignoring %s in the cache: not a regular file", path)
            elif path.suffix == TMP_SUFFIX and path.name.startswith("."):
                with contextlib.suppress(OSError):
                    if time.time() - path.stat().st_mtime > STALE_TMP_SECONDS:
                        path.unlink()
        return sorted(packs)

    # -- writing -------------------------------------------------------------------------------
    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name``: written now to the pack in progress, which the next
        :meth:`flush` puts in place. A write error leaves the entry pending in memory."""
        old = self._pending.get(name)
        self._pending_bytes += len(data) - (len(old) if old is not None else 0)
        self._pending[name] = data
        if old is None:
            self._write_through(name, data)
        elif old != data:
            self._stream_stale = True
        if (self._pending_bytes >= self.max_pending_bytes
                or len(self._pending) >= self.max_pending_entries):
            self.flush()

    def _write_through(self, name: str, data: bytes) -> None:
        if self._stream_stale:
            return
        try:
            if self._stream is None:
                self._stream = _NewPack(self.folder)
            self._stream.add(name, data)
        except OSError:  # the flush writes everything again, or reports the error
            self._stream_stale = True

    def flush(self) -> Path | None:
        """Put the pending entries in place as one new pack; returns it (``None`` if none).

        Raises:
            OSError: the pack cannot be written (the entries stay pending).
        """
        if not self._pending:
            self._drop_stream()
            return None
        index = self.index()
        if self._stream is not None and not self._stream_stale:
            stream, self._stream = self._stream, None
            try:
                path = stream.finish()
            except OSError:  # the pack is gone: the next flush writes the entries again
                self._stream_stale = True
                raise
        else:
            self._drop_stream()
            path, _ = self._write_pack(self._pending.items())
        for name in self._pending:
            index[name] = path
        self._pending.clear()
        self._pending_bytes = 0
        if len(set(index.values())) > self.max_packs:
            self._compact()
        return path

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.abandon()
            self._stream = None
        self._stream_stale = False

    def _write_pack(self, entries: Iterable[tuple[str, bytes]]) -> tuple[Path, list[str]]:
        """Write ``entries`` as a new pack, atomically; returns it and the names written.

        Entries are consumed one at a time and streamed to the file, so merging large packs
        never holds them all in memory.
        """
        pack = _NewPack(self.folder)
        names: list[str] = []
        try:
            for name, data in entries:
                pack.add(name, data)
                names.append(name)
            return pack.finish(), names
        except BaseException:
            pack.abandon()
            raise

    def _compact(self) -> None:
        """Merge every pack into one holding only the live entries (streamed)."""
        index = self.index()
        old = sorted(set(index.values()) | set(self._packs()))

        def live() -> Iterator[tuple[str, bytes]]:
            for name, path in list(index.items()):
                try:
                    data = self._zip(path).read(name)
                except (zipfile.BadZipFile, OSError):  # damaged: dropped, rebuilt on demand
                    continue
                yield name, data

        merged, names = self._write_pack(live())
        self._index = dict.fromkeys(names, merged)
        for path in old:
            self._drop_pack(path)
        log.info("merged %d cache packs into %s", len(old), merged.name)

    def _drop_pack(self, path: Path) -> None:
        handle = self._open.pop(path, None)
        if handle is not None:
            handle.close()
        with contextlib.suppress(OSError):
            path.unlink()


class _NewPack:
    """A pack being written: a temporary file in the folder, renamed into place by
    :meth:`finish` (or deleted by :meth:`abandon`)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        self.path = folder / f"{stem}{PACK_SUFFIX}"
        self.tmp = folder / f".{stem}{TMP_SUFFIX}"
        self.zip = zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_STORED)

    def add(self, name: str, data: bytes) -> None:
        self.zip.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)

    def finish(self) -> Path:
        """Close the file and move it into place; on failure it is deleted and re-raised."""
        try:
            self.zip.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abandon()
            raise
        return self.path

    def abandon(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.zip.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()
