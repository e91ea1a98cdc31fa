"""Small file helpers shared by every writer: atomic writes, JSON records and content hashes."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cadenza.errors import printable_path

log = logging.getLogger(__name__)


def write_bytes_atomic(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    A reader never sees a half-written file, and an interrupted write leaves the previous
    content (if any) untouched. ``durable=False`` skips the fsync (for caches, whose damaged
    entries are detected and rebuilt). The file gets the usual permissions (0666 & ~umask).
    """
    with open_atomic(path, durable=durable) as handle:
        handle.write(data)


@contextlib.contextmanager
def open_atomic(path: str | Path, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary file to write that replaces ``path`` only when the block ends without an
    error, as :func:`write_bytes_atomic` does, for content written piece by piece; the
    temporary file is removed if the block fails or is interrupted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full: an ``OSError`` with
    ``ENOSPC``/``EDQUOT``, or a library's error that carries the system's message."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return True
    text = str(exc)
    return "No space left on device" in text or "Disk quota exceeded" in text


def disk_full_message(folder: str | Path, needed_bytes: int | None = None) -> str:
    """One line: the disk holding ``folder`` is full, how much is free and what is needed."""
    try:
        free = f"{shutil.disk_usage(folder).free / 1e6:,.0f} MB free"
    except OSError:
        free = "free space unknown"
    need = f"; about {needed_bytes / 1e6:,.1f} MB is needed" if needed_bytes else ""
    return f"{folder}: no space left on the disk ({free}{need}); free some space and try again"


def remove_stale(paths: Iterable[Path], min_age: float, *,
                 own_folders_only: bool = False) -> int:
    """Delete each of ``paths`` last changed more than ``min_age`` seconds ago: a folder with
    what it holds, a file or a link itself (``own_folders_only``: only folders, not links,
    that this user owns). Leftovers of killed processes go this way, while those of a
    process writing right now are younger and kept. Returns how many were removed; a path
    that cannot be removed is logged and skipped."""
    now = time.time()
    removed = 0
    for path in paths:
        try:
            info = path.lstat()
            folder = stat.S_ISDIR(info.st_mode)  # lstat: a link is never a folder here
            if now - info.st_mtime < min_age or (
                    own_folders_only and (not folder or info.st_uid != os.getuid())):
                continue
            if folder:
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
        except OSError as exc:
            log.warning("could not remove leftover %s: %s", path, exc)
    return removed


def write_error_message(exc: OSError, folder: str | Path) -> str:
    """One line for an error writing under ``folder``: how full the disk is when it is full,
    else the system's message."""
    return disk_full_message(folder) if is_disk_full(exc) else str(exc)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json_object(path: str | Path, error: type[Exception], what: str) -> dict[str, Any]:
    """The JSON object in ``path``; ``error`` (a one-line message naming the file) when it is
    missing, unreadable, not JSON or not an object. ``what`` names the record in messages."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: damaged {what} ({exc})") from None
    if not isinstance(record, dict):
        raise error(f"{path}: not a {what} (a JSON object)")
    return record


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex SHA-256 of the canonical JSON form of ``obj`` (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def json_bytes(obj: Any) -> bytes:
    """``obj`` as the indented JSON :func:`write_json_atomic` writes."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def cannot_write_message(path: str | Path, exc: OSError) -> str:
    """One line for a file that could not be written: ``cannot write PATH: REASON``, with the
    free space when the disk (or the user's quota) is full."""
    reason = exc.strerror or str(exc)
    if is_disk_full(exc):
        try:
            free = f"{shutil.disk_usage(Path(path).parent).free / 1e6:,.0f} MB free"
        except OSError:
            free = "free space unknown"
        reason += f" ({free}; free some space and try again)"
    return f"cannot write {printable_path(path)}: {reason}"


class FileSet:
    """Files written together or not at all.

    :meth:`add` writes each file's bytes to a hidden temporary file beside it, and
    :meth:`commit` moves them all into place. Leaving a ``with FileSet(...)`` block without
    committing (a full disk, an interrupt, any error) removes the temporary files, so that
    every path keeps what it held. A file that cannot be written raises ``error`` with one
    line naming it and the reason (:func:`cannot_write_message`).
    """

    def __init__(self, error: type[Exception]) -> None:
        self.error = error
        self._staged: list[tuple[Path, Path, bool]] = []  # (temporary file, place, was new)

    def __enter__(self) -> FileSet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()

    def add(self, path: str | Path, make: Callable[[], bytes]) -> Path:
        """Stage the bytes ``make()`` returns as ``path`` (made here, so that an error while
        making them, such as a full temporary folder, names ``path`` too)."""
        path = Path(path)
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
        try:
            data = make()
            new = not path.exists()
            write_bytes_atomic(tmp, data)
        except OSError as exc:
            raise self.error(cannot_write_message(path, exc)) from None
        self._staged.append((tmp, path, new))
        return path

    def commit(self) -> list[Path]:
        """Move every staged file into place (replacing what is there); returns their paths.
        Should a move fail, the files already moved that are new are removed again."""
        placed: list[Path] = []
        for tmp, path, new in self._staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                for done in placed:
                    with contextlib.suppress(OSError):
                        done.unlink()
                raise self.error(cannot_write_message(path, exc)) from None
            if new:
                placed.append(path)
        paths = [path for _, path, _ in self._staged]
        self._staged = []
        return paths

    def discard(self) -> None:
        """Remove the staged files not yet moved into place."""
        for tmp, _, _ in self._staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._staged = []
