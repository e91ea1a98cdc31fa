"""``cadenza train``: train any model preset on a MIDI folder or a benchmark file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from cadenza.cli.app import app, console, friendly_errors
from cadenza.cli.options import (
    ema_option,
    model_overrides,
    parse_range,
    precision_option,
    set_threads,
    sets_option,
    threads_option,
)
from cadenza.data.corpus import CorpusConfig
from cadenza.data.styles import DEFAULT_MIN_PIECES, style_choice
from cadenza.midi import ReadOptions
from cadenza.training import DEFAULT_LR, TrainConfig
from cadenza.trainrun import TrainRequest, run_training


@app.command("train")
@friendly_errors
def train_command(
    model: str = typer.Option(..., "--model", "-m", help="Preset name (see `cadenza models`)."),
    data: Path = typer.Option(..., "--data", "-d", help="MIDI folder or benchmark .json file."),
    steps: int = typer.Option(10_000, "--steps", help="Number of training batches."),
    minutes: float = typer.Option(0.0, "--minutes", help="Stop after this much training time "
                                  "(0: no limit); a --schedule then decays over it."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (default runs/<preset>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    init: str = typer.Option(None, "--init", help="Start from these weights (checkpoint, run "
                             "or shipped model)."),
    lr: float = typer.Option(None, "--lr", help="Base learning rate (default 1e-3; 1.0 with "
                             "adadelta, as the paper)."),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam|adamw|adadelta|rmsprop|sgd"),
    schedule: str = typer.Option("constant", "--schedule", help="constant|cosine|linear"),
    warmup: int = typer.Option(0, "--warmup", help="Linear warm-up steps."),
    grad_clip: float = typer.Option(None, "--grad-clip", help="Gradient norm clip."),
    batch_size: int = typer.Option(None, "--batch-size", help="Override the preset's."),
    seq_len: int = typer.Option(None, "--seq-len", help="Override the preset's window."),
    sets: list[str] = sets_option(),
    log_every: int = typer.Option(100, "--log-every", help="Print training cost every N."),
    eval_every: int = typer.Option(500, "--eval-every", help="Validation loss every N."),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Checkpoint every N."),
    sample_every: int = typer.Option(500, "--sample-every", help="Sampled MIDI every N (0: off)."),
    patience: int = typer.Option(0, "--patience", help="Early stop after N evals w/o gain."),
    meters: str = typer.Option("4/4", "--meters", help="Kept time signatures ('4/4,2/4'), 'all', "
                               "or 'original' (numerator 2 or 4, up to the first other "
                               "signature)."),
    transpose: str = typer.Option(None, "--transpose", help="Training transposition LOW,HIGH."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda|cuda:N"),
    workers: int = typer.Option(None, "--workers", help="Preprocessing processes."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    threads: int = threads_option(),
    precision: str = precision_option(),
    ema: float = ema_option(),
    style_from: str = typer.Option(None, "--style-from", help="Condition on a style label "
                                   "(biaxial): 'folder' (each file's folder) or 'metadata' (the "
                                   "composer in a metadata.csv beside the folder)."),
    style_level: str = typer.Option("composer", "--style-level", help="composer|period "
                                    "(Baroque, Classical, Romantic, Late-Romantic)."),
    min_style_pieces: int = typer.Option(DEFAULT_MIN_PIECES, "--min-style-pieces", help="Fewer "
                                         "training pieces: a period is merged, a composer left "
                                         "out."),
) -> None:
    """Train a model; every --checkpoint-every steps save a checkpoint and a sample."""
    set_threads(threads)
    overrides, labels = model_overrides(sets, batch_size=batch_size, seq_len=seq_len)
    train = TrainConfig(
        steps=steps, lr=DEFAULT_LR.get(optimizer, 1e-3) if lr is None else lr,
        optimizer=optimizer, schedule=schedule, warmup_steps=warmup, grad_clip=grad_clip,
        log_every=log_every, eval_every=eval_every, checkpoint_every=checkpoint_every,
        sample_every=sample_every, early_stopping_patience=patience, seed=seed, device=device,
        precision=precision, max_seconds=minutes * 60.0, ema=ema)
    corpus = CorpusConfig(meters=ReadOptions.parse_meters(meters), transpose_range=parse_range(
        transpose, "--transpose") if transpose else (0, 0))
    style = style_choice(style_from, style_level, min_style_pieces)
    summary = run_training(TrainRequest(
        model, data, out or Path("runs") / model, train, corpus, overrides, labels, resume, init,
        workers, progress=not no_progress and console.is_terminal, style=style), console.print)
    _leave(130 if summary.interrupted else 0)


def _leave(code: int) -> None:
    """End the command with ``code``. A torchrun rank leaves without the interpreter's
    teardown: everything is written (checkpoints are atomic and complete) and the process
    group is closed, but the communication library's threads can abort or hang the process
    at exit on small machines."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        raise typer.Exit(code)
