"""``cadenza benchmark``: train on a benchmark set, select on valid, report test NLL/step."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import typer
from rich.table import Table

from cadenza.checkpoint import load_checkpoint
from cadenza.cli.app import app, console, friendly_errors
from cadenza.data.benchmark import is_benchmark_file
from cadenza.errors import ConfigError
from cadenza.experiment import prepare_experiment
from cadenza.fileio import write_json_atomic
from cadenza.likelihood import PUBLISHED, bernoulli_baseline, evaluate_likelihood
from cadenza.machine import cpu_model
from cadenza.training import TrainConfig, Trainer


def machine_description() -> str:
    """CPU model, core count and torch threads (or the GPU name)."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA)"
    return f"{cpu_model()}, {torch.get_num_threads()} torch threads"


@app.command("benchmark")
@friendly_errors
def benchmark_command(
    dataset: Path = typer.Option(..., "--dataset", help="Benchmark .json (train/valid/test)."),
    models: list[str] = typer.Option(["pianoroll-small"], "--model", "-m",
                                     help="Preset(s) to train and score (repeat the option)."),
    budget_minutes: float = typer.Option(10.0, "--budget-minutes", help="Training time each."),
    steps: int = typer.Option(100_000, "--steps", help="Upper bound on training steps."),
    eval_every: int = typer.Option(100, "--eval-every", help="Validation every N steps."),
    lr: float = typer.Option(1e-3, "--lr", help="Learning rate."),
    out: Path = typer.Option(Path("runs/benchmark"), "--out", "-o", help="Results folder."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch."),
) -> None:
    """Negative log-likelihood per time step on the test split (the literature's protocol)."""
    if not is_benchmark_file(dataset):
        raise ConfigError(f"{dataset}: expected a benchmark .json or .pickle file")
    if budget_minutes <= 0:
        raise ConfigError(f"--budget-minutes must be positive, got {budget_minutes}")
    if threads is not None:
        torch.set_num_threads(threads)
    results = []
    for preset in models:
        run_dir = out / f"{dataset.stem}-{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        experiment = prepare_experiment(preset, dataset, progress=False)
        config = TrainConfig(steps=steps, lr=lr, eval_every=eval_every,
                             checkpoint_every=eval_every, sample_every=0, log_every=eval_every,
                             max_seconds=budget_minutes * 60, seed=seed, keep_checkpoints=1)
        trainer = Trainer(experiment.model, experiment.representation,
                          experiment.train_batches, experiment.valid_batches, config, run_dir,
                          experiment.run_info(config.to_dict()), print_fn=console.print)
        summary = trainer.fit()
        best = load_checkpoint(run_dir)
        test = evaluate_likelihood(best.model, best.representation,
                                   experiment.corpus.arrays("test"))
        results.append({
            "model": preset, "test_nll_per_step": test.nll_per_step,
            "frame_accuracy": test.frame_accuracy, "test_steps": test.steps,
            "test_pieces": test.pieces, "train_steps": summary.steps_done,
            "best_step": best.step, "train_seconds": round(summary.seconds, 1),
            "best_valid_loss": summary.best_valid_loss, "run": str(run_dir),
        })
    corpus = experiment.corpus
    baseline = bernoulli_baseline(corpus.arrays("train"), corpus.arrays("test"))
    report: dict[str, Any] = {"dataset": str(dataset), "machine": machine_description(),
              "date": time.strftime("%Y-%m-%d"), "results": results,
              "independent_bernoulli": {"test_nll_per_step": baseline.nll_per_step,
                                        "frame_accuracy": baseline.frame_accuracy,
                                        "test_steps": baseline.steps}}
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / f"{dataset.stem}-{time.strftime('%Y%m%d-%H%M%S')}.json", report)
    _print_table(dataset, report)


def _print_table(dataset: Path, report: dict[str, Any]) -> None:
    column = 0 if "jsb" in dataset.name.lower() else 1 if "nott" in dataset.name.lower() else None
    table = Table(title=f"test NLL per time step, {dataset.name} (nats, lower is better)")
    for name in ("model", "test NLL/step", "frame acc.", "train steps", "train time", "source"):
        table.add_column(name)
    for row in report["results"]:
        table.add_row(row["model"], f"{row['test_nll_per_step']:.2f}",
                      f"{row['frame_accuracy']:.3f}", str(row["train_steps"]),
                      f"{row['train_seconds'] / 60:.1f} min", f"cadenza, {report['machine']}")
    baseline = report["independent_bernoulli"]
    table.add_row("independent Bernoulli (fitted on train)",
                  f"{baseline['test_nll_per_step']:.2f}", f"{baseline['frame_accuracy']:.3f}",
                  "-", "-", "cadenza, computed here")
    if column is not None:
        for name, values in PUBLISHED.items():
            table.add_row(name, f"{values[column]:.2f}", "-", "-", "-", "published")
    console.print(table)
    console.print(json.dumps(report["results"], indent=1))
