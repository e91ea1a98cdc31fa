"""Who wrote each piece: from a ``metadata.csv`` when there is one, else from folder names.

The CSV (at the corpus root or its parent) needs a ``composer`` column and a column with the
MIDI file's path relative to the CSV (``midi``, as in the piano-midi.de metadata; ``path``
or ``midi_path`` also work). Without it, a file's composer is the name of its first-level
folder under the root (``root/Chopin/op10.mid`` -> ``Chopin``), and ``None`` for files
directly in the root.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

METADATA_FILE = "metadata.csv"
PATH_COLUMNS = ("midi", "midi_path", "path")


def read_metadata_composers(csv_path: Path) -> dict[Path, str]:
    """Map each MIDI path listed in ``csv_path`` (made absolute against the CSV's resolved
    folder, ``..`` removed without following links) to its composer.

    A CSV that cannot be read or lacks the needed columns is ignored with a warning: the
    metadata is optional and folder names still give composers.
    """
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            path_column = next((c for c in PATH_COLUMNS if c in columns), None)
            if "composer" not in columns or path_column is None:
                log.warning(
                    "ignoring %s: expected columns 'composer' and one of %s, found %s",
                    csv_path, ", ".join(PATH_COLUMNS), ", ".join(columns) or "none",
                )
                return {}
            folder = str(csv_path.parent.resolve())
            mapping: dict[Path, str] = {}
            for row in reader:
                composer = (row.get("composer") or "").strip()
                relative = (row.get(path_column) or "").strip()
                if composer and relative:
                    mapping[_lexical(os.path.join(folder, relative))] = composer
            return mapping
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        log.warning("ignoring %s: cannot read it (%s)", csv_path, exc)
        return {}


def _lexical(path: str | Path) -> Path:
    """``path`` with ``.`` and ``..`` removed, without asking the file system (a
    ``resolve()`` per file cost more than reading it)."""
    return Path(os.path.normpath(path))


class ComposerIndex:
    """Finds the composer of files under one corpus root.

    Paths are compared as written under the resolved root; a file reached through a link
    that the CSV names by its target is found by resolving it, the slow way, only when the
    quick match fails.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.metadata: dict[Path, str] = {}
        self.metadata_file: Path | None = None
        for folder in (self.root, self.root.parent):
            candidate = folder / METADATA_FILE
            if candidate.is_file():
                self.metadata_file = candidate
                self.metadata = read_metadata_composers(candidate)
                break

    def composer_of(self, path: str | Path) -> str | None:
        """The composer of ``path`` (absolute, or relative to the root), or ``None``."""
        absolute = _lexical(self.root / path)  # an absolute ``path`` replaces the root
        found = self.metadata.get(absolute)
        if found is None and self.metadata:
            found = self.metadata.get(absolute.resolve())
        if found is not None:
            return found
        try:
            parts = absolute.relative_to(self.root).parts
        except ValueError:
            try:
                parts = absolute.resolve().relative_to(self.root).parts
            except ValueError:
                return None
        return parts[0] if len(parts) > 1 else None
