"""Measure a set of pieces: every metric of every piece in a MIDI folder or a benchmark file.

:func:`measure_set` reads a folder of MIDI files (every metre kept, quantised to one grid)
or the test split of a benchmark file, computes :data:`cadenza.metrics.METRICS` for each
piece, and returns a :class:`PieceSet`: the values, the names, and what was skipped and why
(unreadable files by their reader's reason, pieces without notes as ``no-notes``).
:mod:`cadenza.evaluation` then compares two such sets.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress

from cadenza.data.boulanger import is_benchmark_file, load_benchmark
from cadenza.errors import ConfigError, DataError, MidiError
from cadenza.evaluation import generated_part
from cadenza.metrics import compute_all
from cadenza.midi import ReadOptions, load_piece
from cadenza.midifolder import scan_midi_folder
from cadenza.score import Score, quantise

__all__ = ["BENCHMARK_SPLIT", "PieceSet", "check_separate_sets", "measure_set"]

log = logging.getLogger(__name__)

BENCHMARK_SPLIT = "test"


@dataclass
class PieceSet:
    """The metric values of every measured piece of one set, and what was skipped."""

    source: Path
    names: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    values: list[dict[str, float]] = field(default_factory=list)
    found: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, path: str, reason: str, message: str) -> None:
        self.skipped[reason] += 1
        self.skipped_files.append((path, message))

    def describe(self) -> str:
        """``"5 pieces measured of 7 (skipped 2: not-midi 1, no-notes 1)"``."""
        text = f"{len(self.values)} pieces measured of {self.found}"
        if self.skipped:
            reasons = ", ".join(f"{reason} {n}" for reason, n in self.skipped.most_common())
            text += f" (skipped {sum(self.skipped.values())}: {reasons})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "found": self.found,
            "measured": len(self.values),
            "skipped": dict(self.skipped),
            "skipped_files": [list(item) for item in self.skipped_files],
            "pieces": [
                {"name": name, "path": path, "metrics": values}
                for name, path, values in zip(self.names, self.paths, self.values, strict=True)
            ],
        }


def _benchmark_test_split(path: Path) -> list[Score]:
    """The test split of a benchmark file, as scores at the file's own grid."""
    splits = load_benchmark(path)
    if BENCHMARK_SPLIT not in splits:
        raise DataError(f"{path}: benchmark file has no {BENCHMARK_SPLIT!r} split "
                        f"(splits: {', '.join(splits) or 'none'})")
    return splits[BENCHMARK_SPLIT]


def _regrid(score: Score, steps_per_quarter: int) -> Score:
    """``score`` on a grid of ``steps_per_quarter`` (benchmark files have their own)."""
    if score.ticks_per_quarter == steps_per_quarter:
        return score
    return quantise(score, steps_per_quarter)


def _midi_scores(
    files: list[Path], steps_per_quarter: int, pieces: PieceSet
) -> Iterator[tuple[str, Score]]:
    """Each readable file of ``files`` quantised, every metre kept; bad files go to ``pieces``."""
    options = ReadOptions(steps_per_quarter=steps_per_quarter, time_signatures=None)
    for path in files:
        try:
            score, _ = load_piece(path, options)
        except MidiError as err:
            log.warning("skipping %s", err)
            pieces.skip(str(path), err.reason, str(err))
            continue
        yield str(path), score


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies somewhere under it (links resolved)."""
    return path.resolve().is_relative_to(folder.resolve())


def check_separate_sets(generated: Path, reference: Path) -> None:
    """Refuse two sets of which one lies inside the other (folders are read recursively, so
    the inner set's pieces would be counted in the outer one too).

    A benchmark file as the reference holds no MIDI file to be counted twice.

    Raises:
        ConfigError: the reference lies inside the generated folder, or the other way round.
    """
    if is_benchmark_file(reference):
        return
    if generated.is_dir() and _inside(reference, generated):
        raise ConfigError(f"the reference {reference} lies inside the generated folder "
                          f"{generated}, whose pieces are read with its subfolders; give two "
                          "separate folders")
    if reference.is_dir() and _inside(generated, reference):
        raise ConfigError(f"the generated pieces {generated} lie inside the reference folder "
                          f"{reference}, whose pieces are read with its subfolders; give two "
                          "separate folders")


def measure_set(
    source: Path,
    steps_per_quarter: int,
    limit: int | None = None,
    crop_primer: bool = False,
    progress: Progress | None = None,
    skip: Sequence[Path] = (),
) -> PieceSet:
    """Metric values of the pieces of a MIDI folder or of a benchmark file's test split.

    Reads at most ``limit`` readable pieces; ``crop_primer`` keeps only the generated part
    of pieces carrying cadenza's start marker. Unreadable files and pieces with no notes are
    skipped and counted. Files under the folders of ``skip`` (an evaluation's own output
    folder) are not read at all.

    Raises:
        DataError: no piece could be measured.
        MidiError: ``source`` does not exist.
    """
    pieces = PieceSet(source)
    scores: Iterator[tuple[str, Score]]
    if is_benchmark_file(source):
        test = _benchmark_test_split(source)
        pieces.found = readable = len(test)
        scores = ((f"{source}#{s.name}", _regrid(s, steps_per_quarter)) for s in test)
    else:
        scan = scan_midi_folder(source)
        files = [path for path in scan.files
                 if not any(_inside(path, folder) for folder in skip)]
        for problem in scan.skipped:  # FIFOs, link loops...: counted like unreadable files
            pieces.skip(problem.path, problem.reason, str(problem))
        readable = len(files)
        pieces.found = readable + len(scan.skipped)
        scores = _midi_scores(files, steps_per_quarter, pieces)
    total = min(limit, readable) if limit else readable
    task = progress.add_task(source.name, total=total) if progress else None
    for path, score in scores:
        if crop_primer:
            score = generated_part(score)
        try:
            values = compute_all(score)
        except DataError as exc:
            log.warning("skipping %s: %s", path, exc)
            pieces.skip(path, "no-notes", f"{path}: {exc}")
            continue
        pieces.names.append(score.name or Path(path).stem)
        pieces.paths.append(path)
        pieces.values.append(values)
        if progress is not None and task is not None:
            progress.advance(task)
        if limit is not None and len(pieces.values) >= limit:
            break
    if not pieces.values:
        raise DataError(f"{source}: no readable pieces to evaluate ({pieces.describe()})")
    return pieces
