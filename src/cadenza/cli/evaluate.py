"""``cadenza evaluate``: musical metrics of generated pieces, compared with a reference set."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cadenza.cli.app import app, console, err_console, friendly_errors, is_tty, print_table
from cadenza.data.benchmark import is_benchmark_file, load_benchmark
from cadenza.errors import ConfigError, DataError, MidiError
from cadenza.evaluation import SetComparison, compare_sets, generated_part, write_distributions_png
from cadenza.fileio import write_json_atomic
from cadenza.metrics import METRICS, compute_all
from cadenza.midi import ReadOptions, find_midi_files, load_piece
from cadenza.score import Score, quantise

log = logging.getLogger(__name__)

BENCHMARK_SPLIT = "test"
METRICS_FILE = "metrics.json"
FIGURE_FILE = "distributions.png"


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


def measure_set(
    source: Path,
    steps_per_quarter: int,
    limit: int | None = None,
    crop_primer: bool = False,
    progress: Progress | None = None,
) -> PieceSet:
    """Metric values of the pieces of a MIDI folder or of a benchmark file's test split.

    Reads at most ``limit`` readable pieces; ``crop_primer`` keeps only the generated part
    of pieces carrying cadenza's start marker. Unreadable files and pieces with no notes are
    skipped and counted.

    Raises:
        DataError: no piece could be measured.
        MidiError: ``source`` does not exist.
    """
    pieces = PieceSet(source)
    scores: Iterator[tuple[str, Score]]
    if is_benchmark_file(source):
        test = _benchmark_test_split(source)
        pieces.found = len(test)
        scores = ((f"{source}#{s.name}", _regrid(s, steps_per_quarter)) for s in test)
    else:
        files = find_midi_files(source)
        pieces.found = len(files)
        scores = _midi_scores(files, steps_per_quarter, pieces)
    total = min(limit, pieces.found) if limit else pieces.found
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


def _number(value: float | None, digits: int = 3) -> str:
    """``digits`` significant digits (``-`` for a missing value)."""
    return "-" if value is None else f"{value:.{digits}g}"


def comparison_table(comparison: SetComparison) -> Table:
    """One row per metric: generated and reference mean ± std, OA and KLD on both sides.

    The reference side compares the reference set's intra-set distances with the inter-set
    distances, the generated side the generated set's own (Yang & Lerch score a model on
    that side). A set of one piece has no intra-set distance: "n/a" there.
    """
    table = Table(title="cadenza evaluate: overlap area (OA) and KL divergence of intra-set "
                        "vs inter-set distances")
    table.add_column("metric", style="bold")
    for title in ("generated", "reference", "OA ref", "KLD ref", "OA gen", "KLD gen"):
        table.add_column(title, justify="right")
    one = comparison.generated_count < 2, comparison.reference_count < 2
    for metric in comparison.metrics:
        unit = METRICS[metric.name].unit if metric.name in METRICS else ""
        table.add_row(
            f"{metric.name} [dim]({unit})[/]" if unit else metric.name,
            f"{_number(metric.generated.mean)} ± {_number(metric.generated.std, 2)}",
            f"{_number(metric.reference.mean)} ± {_number(metric.reference.std, 2)}",
            _side(metric.oa_reference, one[1]),
            _side(metric.kld_reference, one[1]),
            _side(metric.oa_generated, one[0]),
            _side(metric.kld_generated, one[0]),
        )
    return table


def _side(value: float | None, single: bool) -> str:
    return "n/a" if value is None and single else _number(value)


def summary_line(comparison: SetComparison) -> str:
    """Mean OA on each side, and why a side has none."""
    parts = []
    for side, count in (("generated", comparison.generated_count),
                        ("reference", comparison.reference_count)):
        mean = comparison.mean_overlap(side)
        if mean is None:
            why = " (one piece has no intra-set distances)" if count < 2 else ""
            parts.append(f"{side} side: n/a{why}")
        else:
            parts.append(f"{side} side {mean:.3f}")
    return "mean overlap area (1 = indistinguishable): " + "; ".join(parts)


@app.command("evaluate")
@friendly_errors
def evaluate_command(
    generated: Annotated[Path, typer.Argument(
        help="Folder of generated MIDI files (or one file).")],
    reference: Annotated[Path, typer.Option(
        "--reference", "-r", help="Folder of reference MIDI files, or a benchmark .json "
        "(its test split).")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default GENERATED/evaluation).")] = None,
    steps_per_quarter: Annotated[int, typer.Option(
        "--steps-per-quarter", min=1, help="Grid both sets are quantised to.")] = 4,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1, help="Measure at most N pieces of each set.")] = None,
    include_primer: Annotated[bool, typer.Option(
        "--include-primer", help="Measure generated pieces whole, primer included.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace metrics.json / distributions.png in --out.")] = False,
    no_progress: Annotated[bool, typer.Option(
        "--no-progress", help="Hide the progress bar.")] = False,
) -> None:
    """Measure GENERATED and a reference set; compare them as Yang & Lerch (2018) do."""
    out_dir = out or (generated if generated.is_dir() else generated.parent) / "evaluation"
    targets = [out_dir / METRICS_FILE, out_dir / FIGURE_FILE]
    existing = [path for path in targets if path.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{existing[0]} already exists; pass --overwrite or choose --out")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err_console, transient=True,
                  disable=no_progress or not is_tty()) as progress:
        gen = measure_set(generated, steps_per_quarter, limit, not include_primer, progress)
        ref = measure_set(reference, steps_per_quarter, limit, False, progress)
    comparison = compare_sets(gen.values, ref.values)
    print_table(comparison_table(comparison))
    console.print(summary_line(comparison), highlight=False, soft_wrap=True)
    console.print(f"generated: {gen.describe()}", highlight=False)
    console.print(f"reference: {ref.describe()}", highlight=False)
    write_json_atomic(targets[0], {
        "options": {"steps_per_quarter": steps_per_quarter, "limit": limit,
                    "include_primer": include_primer},
        "metrics": {name: metric.describe() for name, metric in METRICS.items()},
        "generated": gen.to_json(),
        "reference": ref.to_json(),
        "comparison": comparison.to_json(),
    })
    console.print(f"wrote {targets[0]}", highlight=False)
    try:
        write_distributions_png(comparison, targets[1])
    except ImportError:
        err_console.print(f"skipped {targets[1]}: matplotlib is not installed")
    else:
        console.print(f"wrote {targets[1]}", highlight=False)
