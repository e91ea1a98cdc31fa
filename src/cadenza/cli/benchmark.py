"""``cadenza benchmark``: train on a benchmark set, select on valid, report test NLL/step.

The protocol lives in :mod:`cadenza.likelihood` and the run in :mod:`cadenza.benchmarkrun`;
this module parses options and prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cadenza.benchmarkrun import BenchmarkRequest, benchmark_train_config, run_benchmark
from cadenza.cli.app import app, console, err_console, friendly_errors, print_table
from cadenza.cli.options import (
    ema_option,
    parse_overrides,
    precision_option,
    set_threads,
    sets_option,
    threads_option,
)
from cadenza.data.corpus import CorpusConfig
from cadenza.errors import ConfigError
from cadenza.likelihood import PUBLISHED
from cadenza.midi import ReadOptions


@app.command("benchmark")
@friendly_errors
def benchmark_command(
    dataset: Path = typer.Option(
        ..., "--dataset",
        help="Benchmark .json (train/valid/test) or a MIDI folder (split by cadenza; its "
             "generation split is scored)."),
    models: list[str] = typer.Option(["pianoroll-small"], "--model", "-m",
                                     help="Preset(s) to train and score (repeat the option)."),
    budget_minutes: float = typer.Option(10.0, "--budget-minutes", help="Training time each."),
    steps: int = typer.Option(100_000, "--steps", help="Upper bound on training steps."),
    eval_every: int = typer.Option(100, "--eval-every", help="Validation every N steps."),
    lr: float = typer.Option(1e-3, "--lr", help="Learning rate."),
    out: Path = typer.Option(Path("runs/benchmark"), "--out", "-o", help="Results folder."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    threads: int = threads_option("all"),
    meters: str = typer.Option(
        "4/4", "--meters", help="For a MIDI folder: kept time signatures, 'all' or 'original'."),
    precision: str = precision_option(),
    schedule: str = typer.Option(
        "constant", "--schedule",
        help="constant|cosine|linear learning rate; with a time budget it decays over it."),
    sets: list[str] = sets_option(),
    score: list[Path] = typer.Option(
        [], "--score", help="Score this run's best checkpoint instead of training (repeat)."),
    ema: float = ema_option(),
) -> None:
    """Negative log-likelihood per time step on the test split (the literature's protocol)."""
    train = benchmark_train_config(steps=steps, lr=lr, eval_every=eval_every, seed=seed,
                                   budget_minutes=budget_minutes, precision=precision,
                                   schedule=schedule, ema=ema)
    set_threads(threads)
    request = BenchmarkRequest(dataset, tuple(models), train, out, parse_overrides(sets),
                               CorpusConfig(meters=ReadOptions.parse_meters(meters)),
                               tuple(score))
    report = run_benchmark(request, console.print, err_console.print)
    if report["results"]:
        _print_table(dataset, report)
    if report.get("failures"):
        raise ConfigError(f"{len(report['failures'])} of {len(models)} model(s) failed: "
                          + "; ".join(report["failures"]))


def _print_table(dataset: Path, report: dict[str, Any]) -> None:
    column = 0 if "jsb" in dataset.name.lower() else 1 if "nott" in dataset.name.lower() else None
    table = Table(title=f"test NLL per time step, {dataset.name} (nats, lower is better)")
    names = ("model", "test NLL/step", "frame acc. (past only)", "frame acc. (teacher-forced)",
             "train steps", "train time", "source")
    for name in names:
        table.add_column(name, no_wrap=name == "model")
    for row in report["results"]:
        forced = row.get("frame_accuracy_teacher_forced")
        seconds = row.get("train_seconds")
        table.add_row(row["model"], f"{row['test_nll_per_step']:.2f}",
                      f"{row['frame_accuracy']:.3f}", "-" if forced is None else f"{forced:.3f}",
                      str(row.get("train_steps", "-")),
                      "-" if seconds is None else f"{seconds / 60:.1f} min",
                      f"cadenza, {report['machine']}")
    baseline = report.get("independent_bernoulli")
    if baseline is not None:
        table.add_row("independent Bernoulli (fitted on train)",
                      f"{baseline['test_nll_per_step']:.2f}", f"{baseline['frame_accuracy']:.3f}",
                      "-", "-", "-", "cadenza, computed here")
    if column is not None:
        for name, values in PUBLISHED.items():
            table.add_row(name, f"{values[column]:.2f}", "-", "-", "-", "-", "published")
    print_table(table)
    console.print(json.dumps(report["results"], indent=1))
