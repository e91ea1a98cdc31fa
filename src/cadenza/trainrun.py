"""One training run as ``cadenza train`` asks for it: a :class:`TrainRequest` in, a trained
run folder and a :class:`~cadenza.training.TrainSummary` out.

The steps: check the run folder, prepare the experiment (settings and memory checked before
the data is read), start from other weights if asked, print what is trained, train, and print
how it went. Under ``torchrun`` only the first process prints.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cadenza.checkpoint import init_from
from cadenza.data.cache import default_cache_dir
from cadenza.data.corpus import CorpusConfig
from cadenza.data.styles import StyleChoice
from cadenza.experiment import Experiment, prepare_experiment
from cadenza.generation.primerbank import corpus_primers
from cadenza.generation.trainsample import checkpoint_sampler
from cadenza.runfolder import check_run_folder
from cadenza.training import TrainConfig, Trainer, TrainSummary

PrintFn = Callable[..., None]


@dataclass(frozen=True)
class TrainRequest:
    """What to train, on what, and where.

    Attributes:
        preset: model preset name (``cadenza models``).
        data: MIDI folder or benchmark file.
        run_dir: the run folder (checkpoints, samples, ``run.json``).
        train: the training loop's settings.
        corpus: how the data is read (kept metres, transposition).
        overrides: preset fields the user changed (``--set``, ``--batch-size``, ...).
        labels: how the user gave some of them, for messages (``--batch-size 64``).
        resume: continue the run in ``run_dir``.
        init: start from these weights (checkpoint, run or shipped model).
        workers: preprocessing processes.
        progress: show progress bars.
        style: condition the model on the pieces' style labels (``--style-from``).
    """

    preset: str
    data: Path
    run_dir: Path
    train: TrainConfig
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    overrides: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    resume: bool = False
    init: str | None = None
    workers: int | None = None
    progress: bool = False
    style: StyleChoice | None = None


def is_main_process() -> bool:
    """Whether this process prints: always, except for the later ranks of ``torchrun``."""
    return int(os.environ.get("RANK", "0")) == 0


def _print_start(request: TrainRequest, experiment: Experiment, info: dict[str, Any],
                 print_fn: PrintFn) -> None:
    print_fn(f"[bold]{request.preset}[/]: {experiment.model.num_parameters():,} parameters, "
             f"splits {experiment.corpus.split_counts()}")
    print_fn(f"preprocessing cache: {default_cache_dir(None)} (cadenza cache info)",
             highlight=False)
    if experiment.styles is not None:
        counts = experiment.styles.train_counts
        print_fn("styles (training pieces): " + ", ".join(f"{s} ({n})" for s, n in counts.items()),
                 highlight=False)
        for note in experiment.styles.notes:
            print_fn(f"styles: {note}", highlight=False)
    if logging.getLogger().isEnabledFor(logging.INFO):  # `cadenza -v train`
        print_fn(json.dumps({"model": info["model"], "train": info["train"]}, indent=2),
                 markup=False)


def summary_line(summary: TrainSummary, run_dir: Path) -> str:
    """The last line of a run: steps, time, losses and the run folder."""
    valid = (f"valid {summary.first_valid_loss:.4f} -> best {summary.best_valid_loss:.4f} "
             f"at step {summary.best_step}" if summary.best_valid_loss is not None
             else "no valid")
    ran = summary.steps_done - summary.start_step
    resumed = f" (resumed at step {summary.start_step})" if summary.start_step else ""
    return (f"done: step {summary.steps_done}{resumed}, {ran} steps in {summary.seconds:.0f} s; "
            f"last train loss {summary.last_train_loss:.4f}; {valid}; run folder {run_dir}")


def run_training(request: TrainRequest, print_fn: PrintFn) -> TrainSummary:
    """Train as ``request`` says, printing through ``print_fn`` (rich markup).

    Raises:
        CadenzaError: a setting, the data, the run folder or the ``--init`` weights are
            refused (one line naming the problem), before anything is trained.
    """
    check_run_folder(request.run_dir, request.preset, request.resume)
    experiment = prepare_experiment(
        request.preset, request.data, corpus_config=request.corpus,
        overrides=request.overrides, labels=request.labels, workers=request.workers,
        progress=request.progress, seed=request.train.seed, style=request.style,
    )
    resuming = request.resume and (request.run_dir / "run.json").is_file()
    if request.init is not None and not resuming:
        source = init_from(experiment.model, request.init, experiment.representation)
        print_fn(f"initialised from {source}")
    info = experiment.run_info(request.train.to_dict())
    if request.init is not None:
        info["init_from"] = str(request.init)
    main_process = is_main_process()
    if main_process:
        _print_start(request, experiment, info, print_fn)
    trainer = Trainer(
        experiment.model, experiment.representation, experiment.train_batches,
        experiment.valid_batches, request.train, request.run_dir, info,
        sample_fn=checkpoint_sampler(experiment.corpus), print_fn=print_fn,
        progress=request.progress, primers=corpus_primers(experiment.corpus),
    )
    summary = trainer.fit(resume=request.resume)
    if main_process:
        print_fn(summary_line(summary, request.run_dir))
    return summary
