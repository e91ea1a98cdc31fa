"""``cadenza benchmark``: train on a benchmark set, select on valid, report test NLL/step.

The protocol itself lives in :mod:`cadenza.likelihood`; this module parses options and prints.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import typer
from rich.table import Table

from cadenza.cli.app import app, console, err_console, friendly_errors, print_table
from cadenza.cli.options import parse_overrides, set_threads
from cadenza.data.boulanger import is_benchmark_file
from cadenza.data.corpus import CorpusConfig
from cadenza.errors import CadenzaError, ConfigError
from cadenza.fileio import write_json_atomic
from cadenza.likelihood import PUBLISHED, benchmark_preset, score_run
from cadenza.machine import cpu_model
from cadenza.midi import ReadOptions
from cadenza.training import TrainConfig


def machine_description() -> str:
    """CPU model, core count and torch threads (or the GPU name)."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA)"
    return f"{cpu_model()}, {torch.get_num_threads()} torch threads"


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
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch."),
    meters: str = typer.Option(
        "4/4", "--meters", help="For a MIDI folder: kept time signatures, 'all' or 'original'."),
    precision: str = typer.Option(
        "auto", "--precision",
        help="auto|bf16|fp32: bfloat16 autocast for the forward pass (auto: where native)."),
    schedule: str = typer.Option(
        "constant", "--schedule",
        help="constant|cosine|linear learning rate; with a time budget it decays over it."),
    sets: list[str] = typer.Option(
        [], "--set", help="Override a preset field, e.g. --set dropout=0.2 (repeat)."),
    score: list[Path] = typer.Option(
        [], "--score", help="Score this run's best checkpoint instead of training (repeat)."),
    ema: float = typer.Option(
        0.0, "--ema",
        help="Keep a running average of the weights with this decay (e.g. 0.999) and "
             "validate and save it; 0: off."),
) -> None:
    """Negative log-likelihood per time step on the test split (the literature's protocol)."""
    if not (is_benchmark_file(dataset) or dataset.is_dir()):
        raise ConfigError(f"{dataset}: expected a benchmark .json or .pickle file or a folder")
    if budget_minutes <= 0:
        raise ConfigError(f"--budget-minutes must be positive, got {budget_minutes}")
    set_threads(threads)
    results: list[dict[str, Any]] = [score_run(run, dataset) for run in score]
    failures: list[str] = []
    report: dict[str, Any] = {"dataset": str(dataset), "machine": machine_description(),
                              "date": time.strftime("%Y-%m-%d"), "results": results}
    report_path = out / f"{dataset.stem}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    for preset in [] if score else models:
        run_dir = out / f"{dataset.stem}-{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        config = TrainConfig(steps=steps, lr=lr, eval_every=eval_every,
                             checkpoint_every=eval_every, sample_every=0, log_every=eval_every,
                             max_seconds=budget_minutes * 60, seed=seed, keep_checkpoints=1,
                             precision=precision, schedule=schedule, ema=ema)
        try:
            row, baseline = benchmark_preset(
                preset, dataset, config, run_dir, console.print,
                overrides=parse_overrides(sets),
                corpus_config=CorpusConfig(meters=ReadOptions.parse_meters(meters)))
        except CadenzaError as exc:  # one model's failure does not cost the others' results
            failures.append(f"{preset}: {exc}")
            err_console.print(f"error: {preset}: {exc}; its run folder is {run_dir}")
            continue
        row["settings"] = {"schedule": schedule, "lr": lr, "ema": ema, **parse_overrides(sets)}
        results.append(row)
        report["independent_bernoulli"] = {"test_nll_per_step": baseline.nll_per_step,
                                           "frame_accuracy": baseline.frame_accuracy,
                                           "test_steps": baseline.steps}
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(report_path, report)  # after every model, so nothing done is lost
    if failures:
        report["failures"] = failures
    if results:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(report_path, report)
        _print_table(dataset, report)
    if failures:
        raise ConfigError(f"{len(failures)} of {len(models)} model(s) failed: "
                          + "; ".join(failures))


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
