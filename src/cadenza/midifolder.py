"""Finding the MIDI files of a folder, and saying what was passed over and why.

:func:`scan_midi_folder` walks a folder (linked folders included, each real folder once) and
returns the regular files named ``*.mid`` / ``*.midi`` beside every entry it passed over,
each as a :class:`~cadenza.errors.MidiError` whose reason a batch counts:

- ``not-a-file``: a folder, FIFO, device or socket named like a MIDI file;
- ``broken-link``: a link to nothing;
- ``link-loop``: a link that leads to itself, or a linked folder that leads back up to a
  folder being read (its files are read once, under the first path);
- ``duplicate``: a folder reached a second time through another link;
- ``unreadable``: a folder that cannot be listed, or an entry that cannot be looked at.

Nothing is opened: a FIFO would block and a device could be read for ever.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cadenza.errors import MidiError

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi")


def is_midi_path(path: Path) -> bool:
    """True for files named ``*.mid`` / ``*.midi`` in any letter case."""
    return path.suffix.lower() in MIDI_SUFFIXES


@dataclass
class FolderScan:
    """What :func:`scan_midi_folder` found: the files, sorted by relative path, and the
    entries passed over, in the order met."""

    files: list[Path] = field(default_factory=list)
    skipped: list[MidiError] = field(default_factory=list)


def _entry_problem(path: Path) -> MidiError | None:
    """Why the entry ``path`` (named like a MIDI file) is not a file to read, if it is not."""
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return MidiError(path, "link-loop", "a link that leads back to itself")
        if isinstance(exc, FileNotFoundError) and path.is_symlink():
            return MidiError(path, "broken-link", f"a link to {os.readlink(path)}, which is "
                             "not there")
        return MidiError(path, "unreadable", exc.strerror or str(exc))
    if stat.S_ISREG(info.st_mode):
        return None
    kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO, device or socket"
    return MidiError(path, "not-a-file", f"{kind}, not a file")


def _revisit(here: str, real: str, seen: dict[str, str]) -> MidiError:
    """The skip of a folder reached again: a loop when it leads back up the tree."""
    first = seen[real]
    parent = os.path.realpath(os.path.dirname(here))
    if parent == real or parent.startswith(real.rstrip(os.sep) + os.sep):
        return MidiError(here, "link-loop", f"leads back up to {first}, read once there")
    return MidiError(here, "duplicate", f"the same folder as {first}, read once there")


def scan_midi_folder(folder: str | Path) -> FolderScan:
    """The MIDI files under ``folder`` (recursive) and the entries passed over.

    Linked folders are followed, each real folder once, under the first of its paths in
    sorted order (so a link back up the tree cannot loop, and the listing does not depend on
    the order the file system lists folders in). ``folder`` may also be one file.

    Raises:
        MidiError: ``not-found`` when ``folder`` does not exist.
    """
    root = Path(folder)
    if not root.exists():
        raise MidiError(root, "not-found", "no such file or folder")
    if root.is_file():
        return FolderScan([root])
    found: list[tuple[str, Path]] = []
    scan = FolderScan()
    seen: dict[str, str] = {}

    def unreadable(error: OSError) -> None:
        scan.skipped.append(MidiError(error.filename, "unreadable",
                                      f"{error.strerror or error}; its files are not read"))

    for here, dirs, names in os.walk(root, followlinks=True, onerror=unreadable):
        real = os.path.realpath(here)
        if real in seen:
            scan.skipped.append(_revisit(here, real, seen))
            dirs.clear()
            continue
        seen[real] = here
        dirs.sort()  # a folder reached twice is listed under its first path in sorted order
        relative = os.path.relpath(here, root)
        scan.skipped.extend(
            MidiError(Path(here, name), "not-a-file", "a folder, not a file; what it holds is read")
            for name in dirs if is_midi_path(Path(name)))
        for name in names:
            path = Path(here, name)
            if not is_midi_path(path):
                continue
            problem = _entry_problem(path)
            if problem is not None:
                scan.skipped.append(problem)
                continue
            key = name if relative == "." else f"{relative}/{name}"
            found.append((key.replace(os.sep, "/"), path))
    scan.files = [path for _, path in sorted(found)]
    return scan


def find_midi_files(folder: str | Path) -> list[Path]:
    """The MIDI files of :func:`scan_midi_folder`; each entry passed over is named in a
    warning (a batch that counts them calls :func:`scan_midi_folder` itself)."""
    scan = scan_midi_folder(folder)
    for skipped in scan.skipped:
        log.warning("skipping %s", skipped)
    return scan.files
