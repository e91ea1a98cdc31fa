"""Export the Bach chorales bundled with music21 to MIDI files cadenza reads like any folder.

music21 ships the 371 Riemenschneider chorales as MusicXML inside its installed package;
nothing is downloaded. Files go to ``<out_dir>/Bach/<bwv>.mid`` so the folder name gives the
composer. Existing files are never overwritten: they are left as they are and counted.
music21 is an optional dependency (``pip install 'cadenza[music21]'``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cadenza.errors import ConfigError, DataError
from cadenza.fileio import write_bytes_atomic

log = logging.getLogger(__name__)

COMPOSER_FOLDER = "Bach"
INSTALL_HINT = "pip install 'cadenza[music21]'"


@dataclass
class BachExport:
    """What :func:`export_bach_chorales` did: files written, left alone, or failed."""

    written: list[Path] = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _music21() -> Any:
    try:
        import music21
    except ImportError:
        raise ConfigError(f"music21 is not installed; run: {INSTALL_HINT}") from None
    return music21


def chorale_names(limit: int | None = None) -> list[str]:
    """music21 corpus names of the chorales (``"bach/bwv269"``...), Riemenschneider order."""
    music21 = _music21()
    if limit is not None and limit <= 0:
        raise ConfigError(f"limit must be positive, got {limit}")
    iterator = music21.corpus.chorales.Iterator(returnType="filename")
    names = list(dict.fromkeys(str(name) for name in iterator))  # drop repeats, keep order
    return names[:limit] if limit is not None else names


def chorale_midi_bytes(name: str) -> bytes:
    """Parse one chorale from music21's corpus and return standard MIDI file bytes."""
    music21 = _music21()
    source = music21.corpus.getWork(name)
    if isinstance(source, list):  # several encodings of one work: prefer MusicXML
        candidates = sorted((str(s) for s in source), key=lambda s: not s.endswith(".mxl"))
        source = candidates[0] if candidates else None
    if not source:
        raise DataError(f"{name}: not found in music21's corpus")
    # Parse from the source file and keep music21 from reading or writing its pickle cache.
    stream = music21.converter.parse(str(source), forceSource=True, storePickle=False)
    return bytes(music21.midi.translate.streamToMidiFile(stream).writestr())


def export_bach_chorales(
    out_dir: str | Path,
    limit: int | None = None,
    on_file: Callable[[Path], None] | None = None,
    names: Sequence[str] | None = None,
) -> BachExport:
    """Write up to ``limit`` chorales as MIDI files under ``out_dir/Bach``.

    Files already present are left untouched and listed in ``existing``; a chorale music21
    cannot convert is logged and listed in ``failed``. ``on_file`` is called after each
    chorale (for progress bars). ``names`` (music21 corpus names) replaces the default list
    :func:`chorale_names` gives.

    Raises:
        ConfigError: music21 is not installed, or ``limit`` is not positive.
    """
    folder = Path(out_dir) / COMPOSER_FOLDER
    result = BachExport()
    for name in chorale_names(limit) if names is None else names[:limit]:
        target = folder / f"{name.rsplit('/', 1)[-1]}.mid"
        if target.exists():
            result.existing.append(target)
        else:
            try:
                data = chorale_midi_bytes(name)
            # music21 raises many exception types of its own on files it cannot convert.
            except Exception as exc:
                log.warning("skipping chorale %s: %s", name, exc)
                result.failed.append((name, str(exc)))
            else:
                if target.exists():  # appeared while we were converting: still never overwrite
                    result.existing.append(target)
                else:
                    write_bytes_atomic(target, data)
                    result.written.append(target)
        if on_file is not None:
            on_file(target)
    return result
