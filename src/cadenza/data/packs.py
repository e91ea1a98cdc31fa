"""A folder of pack files: many small named byte entries stored in few files.

Creating a file can cost a millisecond on a busy virtual machine (measured on the 2-core
development machine while training jobs ran), as much as reading and quantising a MIDI
piece, so a cache with one file per entry could spend most of a cold corpus build creating
files; fewer, larger files also keep the cache folder small and quick to list. A
:class:`PackStore` keeps entries in memory until :meth:`PackStore.flush` (or until enough
have gathered) and then writes them as one uncompressed ZIP file
(``packs/<time>-<random>.zip``), atomically. Reading opens each pack once per process and
reads members by name; ZIP's CRC-32 per member catches damaged bytes.

* the newest pack wins when two hold the same name;
* a damaged pack (unreadable directory) is logged and deleted; a damaged member is dropped
  from the index (:meth:`PackStore.discard`) and left for the next compaction;
* when more than ``max_packs`` packs exist, a flush merges them into one, keeping only the
  live entries (so repeated builds do not pile up files or dead bytes);
* the store works after ``fork`` (open files are per process) and pickles without them.

Only plain bytes are stored; :mod:`cadenza.data.cache` puts NumPy ``.npy`` / ``.npz`` data
in them, read back with ``allow_pickle=False``.
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

    # -- pickling and fork: open files never travel ------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"] = {}
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
            return self._zip(path).read(name)
        except FileNotFoundError:  # another process compacted the packs away
            self.index().pop(name, None)
            return None

    def is_empty(self) -> bool:
        """No entry at all, on disk or pending."""
        return not self._pending and not self.index()

    def discard(self, name: str) -> None:
        """Forget a damaged entry (its bytes stay in the pack until the next compaction)."""
        self._pending.pop(name, None)
        self.index().pop(name, None)

    def index(self) -> dict[str, Path]:
        """Entry name -> pack, read from every pack's ZIP directory once per store."""
        if self._index is None:
            self._index = {}
            for path in self._packs():
                try:
                    names = self._zip(path).namelist()
                except (zipfile.BadZipFile, OSError, ValueError) as exc:
                    log.warning("damaged cache pack %s (%s); deleting it", path, exc)
                    self._drop_pack(path)
                    continue
                for name in names:
                    self._index[name] = path
        return self._index

    def _packs(self) -> list[Path]:
        """Packs, oldest first (names start with the creation time)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.suffix == PACK_SUFFIX)

    # -- writing -------------------------------------------------------------------------------
    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` (written to disk by the next :meth:`flush`)."""
        old = self._pending.get(name)
        self._pending_bytes += len(data) - (len(old) if old is not None else 0)
        self._pending[name] = data
        if (self._pending_bytes >= self.max_pending_bytes
                or len(self._pending) >= self.max_pending_entries):
            self.flush()

    def flush(self) -> Path | None:
        """Write the pending entries as one new pack; returns it (``None`` if none pending).

        Raises:
            OSError: the pack cannot be written (the entries stay pending).
        """
        if not self._pending:
            return None
        index = self.index()
        path, _ = self._write_pack(self._pending.items())
        for name in self._pending:
            index[name] = path
        self._pending.clear()
        self._pending_bytes = 0
        if len(set(index.values())) > self.max_packs:
            self._compact()
        return path

    def _write_pack(self, entries: Iterable[tuple[str, bytes]]) -> tuple[Path, list[str]]:
        """Write ``entries`` as a new pack, atomically; returns it and the names written.

        Entries are consumed one at a time and streamed to a temporary file in the folder
        (renamed into place at the end), so merging large packs never holds them all in
        memory.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        path = self.folder / f"{stem}{PACK_SUFFIX}"
        tmp = self.folder / f".{stem}.tmp"
        names: list[str] = []
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as pack:
                for name, data in entries:
                    pack.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
                    names.append(name)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return path, names

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
