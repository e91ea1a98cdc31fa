"""``cadenza evaluate``: musical metrics of generated pieces, compared with a reference set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cadenza.cli.app import app, console, err_console, friendly_errors, is_tty, print_table
from cadenza.errors import ConfigError
from cadenza.evaluation import SetComparison, compare_sets, write_distributions_png
from cadenza.fileio import write_json_atomic
from cadenza.metrics import METRICS
from cadenza.pieceset import check_separate_sets, measure_set

METRICS_FILE = "metrics.json"
FIGURE_FILE = "distributions.png"


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
    check_separate_sets(generated, reference)
    out_dir = out or (generated if generated.is_dir() else generated.parent) / "evaluation"
    targets = [out_dir / METRICS_FILE, out_dir / FIGURE_FILE]
    existing = [path for path in targets if path.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{existing[0]} already exists; pass --overwrite or choose --out")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err_console, transient=True,
                  disable=no_progress or not is_tty()) as progress:
        # The command's own output folder (GENERATED/evaluation by default) is never read.
        gen = measure_set(generated, steps_per_quarter, limit, not include_primer, progress,
                          skip=[out_dir])
        ref = measure_set(reference, steps_per_quarter, limit, False, progress, skip=[out_dir])
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
