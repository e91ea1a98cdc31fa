"""``cadenza train``: train any model preset on a MIDI folder or a benchmark file."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer

from cadenza.checkpoint import init_from
from cadenza.cli.app import app, console, friendly_errors
from cadenza.cli.options import parse_overrides, parse_range, set_threads
from cadenza.data.cache import default_cache_dir
from cadenza.data.corpus import CorpusConfig
from cadenza.experiment import prepare_experiment
from cadenza.generation.primerbank import corpus_primers
from cadenza.generation.trainsample import checkpoint_sampler
from cadenza.midi import ReadOptions
from cadenza.runfolder import check_run_folder
from cadenza.training import DEFAULT_LR, TrainConfig, Trainer


@app.command("train")
@friendly_errors
def train_command(
    model: str = typer.Option(..., "--model", "-m", help="Preset name (see `cadenza models`)."),
    data: Path = typer.Option(..., "--data", "-d", help="MIDI folder or benchmark .json file."),
    steps: int = typer.Option(10_000, "--steps", help="Number of training batches."),
    minutes: float = typer.Option(
        0.0, "--minutes", help="Stop after this much training time (0: no limit); a "
        "--schedule then decays over it."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (default runs/<preset>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    init: str = typer.Option(
        None, "--init", help="Start from these weights (checkpoint, run or shipped model)."
    ),
    lr: float = typer.Option(
        None, "--lr", help="Base learning rate (default 1e-3; 1.0 with adadelta, as the paper)."),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam|adamw|adadelta|rmsprop|sgd"),
    schedule: str = typer.Option("constant", "--schedule", help="constant|cosine|linear"),
    warmup: int = typer.Option(0, "--warmup", help="Linear warm-up steps."),
    grad_clip: float = typer.Option(None, "--grad-clip", help="Gradient norm clip."),
    batch_size: int = typer.Option(None, "--batch-size", help="Override the preset's."),
    seq_len: int = typer.Option(None, "--seq-len", help="Override the preset's window."),
    sets: list[str] = typer.Option(
        [], "--set", help="Override a preset field, e.g. --set dropout=0.2 (repeat)."),
    log_every: int = typer.Option(100, "--log-every", help="Print training cost every N."),
    eval_every: int = typer.Option(500, "--eval-every", help="Validation loss every N."),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Checkpoint every N."),
    sample_every: int = typer.Option(500, "--sample-every", help="Sampled MIDI every N (0: off)."),
    patience: int = typer.Option(0, "--patience", help="Early stop after N evals w/o gain."),
    meters: str = typer.Option(
        "4/4", "--meters",
        help="Kept time signatures ('4/4,2/4'), 'all', or 'original' (numerator 2 or 4, up to "
             "the first other signature)."),
    transpose: str = typer.Option(None, "--transpose", help="Training transposition LOW,HIGH."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda|cuda:N"),
    workers: int = typer.Option(None, "--workers", help="Preprocessing processes."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch (default: all)."),
    precision: str = typer.Option(
        "auto", "--precision",
        help="auto|bf16|fp32: bfloat16 autocast for the forward pass (auto: where native)."),
    ema: float = typer.Option(
        0.0, "--ema",
        help="Keep a running average of the weights with this decay (e.g. 0.999) and "
             "validate and save it; 0: off."),
) -> None:
    """Train a model; every --checkpoint-every steps save a checkpoint and a sample."""
    set_threads(threads)
    run_dir = out or Path("runs") / model
    check_run_folder(run_dir, model, resume)
    overrides: dict[str, Any] = parse_overrides(sets)
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    if seq_len is not None:
        overrides["seq_len"] = seq_len
    corpus_config = CorpusConfig(
        meters=ReadOptions.parse_meters(meters),
        transpose_range=parse_range(transpose, "--transpose") if transpose else (0, 0),
    )
    train_config = TrainConfig(
        steps=steps, lr=lr if lr is not None else DEFAULT_LR.get(optimizer, 1e-3),
        optimizer=optimizer, schedule=schedule, warmup_steps=warmup,
        grad_clip=grad_clip, log_every=log_every, eval_every=eval_every,
        checkpoint_every=checkpoint_every, sample_every=sample_every,
        early_stopping_patience=patience, seed=seed, device=device, precision=precision,
        max_seconds=minutes * 60.0, ema=ema,
    )
    show = not no_progress and console.is_terminal
    experiment = prepare_experiment(
        model, data, corpus_config=corpus_config, overrides=overrides, workers=workers,
        progress=show, seed=seed,
    )
    resuming = resume and (run_dir / "run.json").is_file()
    if init is not None and not resuming:
        source = init_from(experiment.model, init, experiment.representation)
        console.print(f"initialised from {source}")
    info = experiment.run_info(train_config.to_dict())
    if init is not None:
        info["init_from"] = str(init)
    main_process = int(os.environ.get("RANK", "0")) == 0  # torchrun starts one per device
    if main_process:
        console.print(f"[bold]{model}[/]: {experiment.model.num_parameters():,} parameters, "
                      f"splits {experiment.corpus.split_counts()}")
        console.print(f"preprocessing cache: {default_cache_dir(None)} (cadenza cache info)",
                      highlight=False)
        if logging.getLogger().isEnabledFor(logging.INFO):  # `cadenza -v train`
            console.print_json(json.dumps({"model": info["model"], "train": info["train"]}))
    trainer = Trainer(
        experiment.model, experiment.representation, experiment.train_batches,
        experiment.valid_batches, train_config, run_dir, info,
        sample_fn=checkpoint_sampler(experiment.corpus), print_fn=console.print, progress=show,
        primers=corpus_primers(experiment.corpus),
    )
    summary = trainer.fit(resume=resume)
    code = 130 if summary.interrupted else 0
    if main_process:
        valid = (f"valid {summary.first_valid_loss:.4f} -> best {summary.best_valid_loss:.4f} "
                 f"at step {summary.best_step}" if summary.best_valid_loss is not None
                 else "no valid")
        ran = summary.steps_done - summary.start_step
        resumed = f" (resumed at step {summary.start_step})" if summary.start_step else ""
        console.print(
            f"done: step {summary.steps_done}{resumed}, {ran} steps in {summary.seconds:.0f} s; "
            f"last train loss "
            f"{summary.last_train_loss:.4f}; {valid}; run folder {run_dir}"
        )
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # A torchrun rank: everything is written (checkpoints are atomic and complete) and
        # the process group is closed. Leave without the interpreter's teardown, where the
        # communication library's threads can abort or hang the process on small machines.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        raise typer.Exit(code)
