"""Style labels of a corpus' pieces, for a model conditioned on them (``--style-from``).

A label comes from one of two sources (:class:`StyleChoice`):

* ``folder``: the name of the piece's first folder under the corpus root
  (``midis/Chopin/op10.mid`` under ``midis/`` -> ``Chopin``);
* ``metadata``: the ``composer`` column of a ``metadata.csv`` in the root or its parent
  (:mod:`cadenza.data.composers`), as piano-midi.de has.

and at one of two levels: ``composer`` keeps the name as it is; ``period`` maps a composer to
its period (:data:`PERIODS`), for corpora where each composer has few pieces. The periods are
cadenza's grouping of the piano-midi.de composers by when and how they wrote:

* ``Baroque``: Bach;
* ``Classical``: Haydn, Mozart, Clementi, Beethoven;
* ``Romantic``: Schubert, Mendelssohn, Chopin, Schumann, Liszt, Burgmueller;
* ``Late-Romantic``: the late Romantics, the national schools and the Impressionists:
  Brahms, Tchaikovsky, Grieg, Borodin, Mussorgsky, Balakirev, Moszkowski, Sinding, Albeniz,
  Granados, Godowsky, Rachmaninoff, Debussy, Ravel.

A composer outside the table (and piano-midi.de's ``Christmas`` carols) has no period.

A style needs ``min_pieces`` pieces in the training split. Below it, a period is merged into
the next one in time (the last into the one before it), named ``Baroque+Classical``; a
composer is refused: its pieces are left out of the run, with a message naming it. Pieces
without a label are left out too. At least two styles must remain.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cadenza.data.composers import ComposerIndex
from cadenza.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_MIN_PIECES",
    "LEVELS",
    "PERIODS",
    "PERIOD_ORDER",
    "SOURCES",
    "StyleChoice",
    "StyleLabels",
    "label_pieces",
    "style_choice",
]

SOURCES = ("folder", "metadata")
LEVELS = ("composer", "period")
DEFAULT_MIN_PIECES = 5
PERIOD_ORDER = ("Baroque", "Classical", "Romantic", "Late-Romantic")
PERIODS: dict[str, str] = {
    "Bach": "Baroque",
    **dict.fromkeys(("Haydn", "Mozart", "Clementi", "Beethoven"), "Classical"),
    **dict.fromkeys(("Schubert", "Mendelssohn", "Chopin", "Schumann", "Liszt",
                     "Burgmueller"), "Romantic"),
    **dict.fromkeys(("Brahms", "Tchaikovsky", "Grieg", "Borodin", "Mussorgsky", "Balakirev",
                     "Moszkowski", "Sinding", "Albeniz", "Granados", "Godowsky",
                     "Rachmaninoff", "Debussy", "Ravel"), "Late-Romantic"),
}


@dataclass(frozen=True)
class StyleChoice:
    """Where a run's style labels come from (``cadenza train --style-from --style-level``).

    Attributes:
        source: ``folder`` or ``metadata``.
        level: ``composer`` or ``period``.
        min_pieces: training pieces a style needs (fewer: merged or refused, see above).
    """

    source: str = "folder"
    level: str = "composer"
    min_pieces: int = DEFAULT_MIN_PIECES

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"style-from must be one of {', '.join(SOURCES)}, "
                              f"got {self.source!r}")
        if self.level not in LEVELS:
            raise ConfigError(f"style-level must be one of {', '.join(LEVELS)}, "
                              f"got {self.level!r}")
        if not isinstance(self.min_pieces, int) or self.min_pieces < 1:
            raise ConfigError(f"min-style-pieces must be a positive int, got {self.min_pieces!r}")

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "level": self.level, "min_pieces": self.min_pieces}


def style_choice(source: str | None, level: str = "composer",
                 min_pieces: int = DEFAULT_MIN_PIECES) -> StyleChoice | None:
    """The choice ``cadenza train`` asks for: ``None`` without a source, and then a level or
    minimum other than the defaults is refused (it would be ignored)."""
    if source is None:
        if level != "composer" or min_pieces != DEFAULT_MIN_PIECES:
            raise ConfigError("--style-level and --min-style-pieces need --style-from "
                              "folder|metadata")
        return None
    return StyleChoice(source, level, min_pieces)


@dataclass(frozen=True)
class StyleLabels:
    """The styles of a run and the style of each piece path (``None``: left out)."""

    styles: tuple[str, ...]
    of_path: dict[str, int | None]
    train_counts: dict[str, int]  # training pieces per style
    notes: tuple[str, ...]  # what was merged or left out, one line each

    def index(self, path: str) -> int | None:
        return self.of_path.get(path)


def _raw_labeller(choice: StyleChoice, root: Path) -> Callable[[str], str | None]:
    """The composer-level label of a piece path (relative to ``root``), or ``None``."""
    if choice.source == "folder":
        def folder(path: str) -> str | None:
            parts = PurePosixPath(path).parts
            return parts[0] if len(parts) > 1 else None
        return folder
    index = ComposerIndex(root)
    if index.metadata_file is None:
        raise ConfigError(f"--style-from metadata: no metadata.csv with a composer column in "
                          f"{root} or {root.parent}")
    if not index.metadata:
        raise ConfigError(f"--style-from metadata: {index.metadata_file} names no composer of "
                          "any file (columns composer and midi)")

    def metadata(path: str) -> str | None:
        return index.metadata.get(Path(os.path.normpath(index.root / path)))
    return metadata


def _merged_periods(counts: Counter[str], min_pieces: int) -> tuple[dict[str, str], list[str]]:
    """Each period with too few training pieces merged into the next (the last into the one
    before): -> old name to new name, and a line per merge."""
    groups = [[p] for p in PERIOD_ORDER if p in counts]
    notes: list[str] = []
    i = 0
    while len(groups) > 1 and i < len(groups):
        size = sum(counts[p] for p in groups[i])
        if size >= min_pieces:
            i += 1
            continue
        into = i + 1 if i + 1 < len(groups) else i - 1
        notes.append(f"style {'+'.join(groups[i])} has {size} training piece(s), fewer than "
                     f"{min_pieces}: merged with {'+'.join(groups[into])}")
        lo, hi = sorted((i, into))
        groups[lo:hi + 1] = [groups[lo] + groups[hi]]
        i = lo
    return {p: "+".join(group) for group in groups for p in group}, notes


def label_pieces(choice: StyleChoice, root: Path, pieces: list[tuple[str, str]]
                 ) -> StyleLabels:
    """The styles of ``pieces`` (``(path relative to root, split)`` each) as ``choice`` says.

    Raises:
        DataError: fewer than two styles keep ``min_pieces`` training pieces (the message
            gives each style's count).
    """
    raw = _raw_labeller(choice, root)
    labels: dict[str, str | None] = {}
    for path, _ in pieces:
        name = raw(path)
        labels[path] = PERIODS.get(name) if choice.level == "period" and name else name
    counts: Counter[str] = Counter()
    for path, split in pieces:
        label = labels[path]
        if split == "train" and label is not None:
            counts[label] += 1
    notes: list[str] = []
    unlabelled = sum(1 for path, _ in pieces if labels[path] is None)
    if unlabelled:
        what = "no period" if choice.level == "period" else f"no {choice.source} label"
        notes.append(f"{unlabelled} piece(s) with {what} left out")
    if choice.level == "period":
        rename, merges = _merged_periods(counts, choice.min_pieces)
        notes.extend(merges)
    else:
        few = sorted(s for s, n in counts.items() if n < choice.min_pieces)
        rename = {s: s for s in counts if s not in few}
        if few:
            notes.append(f"style(s) with fewer than {choice.min_pieces} training pieces left "
                         f"out: {', '.join(f'{s} ({counts[s]})' for s in few)}")
    merged: Counter[str] = Counter()
    for style, n in counts.items():
        if style in rename:
            merged[rename[style]] += n
    styles = tuple(s for s in sorted(set(rename.values()), key=_order) if merged[s]
                   >= choice.min_pieces)
    if len(styles) < 2:
        found = ", ".join(f"{s} {n}" for s, n in sorted(counts.items())) or "none"
        raise DataError(f"--style-from {choice.source}: fewer than two styles with "
                        f"{choice.min_pieces} or more training pieces (training pieces per "
                        f"style: {found})")
    position = {s: i for i, s in enumerate(styles)}
    of_path = {path: position.get(rename.get(label, "")) if label is not None else None
               for path, label in labels.items()}
    return StyleLabels(styles, of_path, {s: merged[s] for s in styles}, tuple(notes))


def _order(style: str) -> tuple[int, str]:
    """Periods in time order (by their first member), other names alphabetically after."""
    first = style.split("+")[0]
    return (PERIOD_ORDER.index(first) if first in PERIOD_ORDER else len(PERIOD_ORDER), style)

