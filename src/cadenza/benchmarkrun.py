"""One ``cadenza benchmark`` run: train and score every preset asked for (or re-score saved
runs) with the likelihood protocol of :mod:`cadenza.likelihood`, writing the report after
every model so that nothing done is lost.

Every preset's settings and memory are checked before the first one trains (a preset
refused there is reported at once and not trained); a model that fails, then or later, does
not cost the others their results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cadenza.data.boulanger import is_benchmark_file
from cadenza.data.corpus import CorpusConfig
from cadenza.errors import CadenzaError, ConfigError
from cadenza.experiment import preset_settings
from cadenza.fileio import write_json_atomic
from cadenza.likelihood import benchmark_preset, score_run
from cadenza.machine import machine_description
from cadenza.training import TrainConfig


@dataclass(frozen=True)
class BenchmarkRequest:
    """What ``cadenza benchmark`` measures.

    Attributes:
        dataset: benchmark file (train/valid/test) or MIDI folder (its generation split is
            scored).
        presets: presets to train and score, in order.
        train: the training settings of each (a time budget bounds them).
        out: results folder: the report and one run folder per preset.
        overrides: preset fields changed for every preset (``--set``).
        corpus: how a MIDI folder is read.
        score: saved runs to score instead of training.
    """

    dataset: Path
    presets: tuple[str, ...]
    train: TrainConfig
    out: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    score: tuple[Path, ...] = ()


def benchmark_train_config(*, steps: int, lr: float, eval_every: int, budget_minutes: float,
                           seed: int, precision: str, schedule: str, ema: float) -> TrainConfig:
    """The training settings of a benchmark model: validate and checkpoint every
    ``eval_every`` steps, keep only the best checkpoint, no samples, stop after
    ``budget_minutes``.

    Raises:
        ConfigError: ``budget_minutes`` is not positive.
    """
    if budget_minutes <= 0:
        raise ConfigError(f"--budget-minutes must be positive, got {budget_minutes}")
    return TrainConfig(steps=steps, lr=lr, eval_every=eval_every, checkpoint_every=eval_every,
                       sample_every=0, log_every=eval_every, max_seconds=budget_minutes * 60,
                       seed=seed, keep_checkpoints=1, precision=precision, schedule=schedule,
                       ema=ema)


def check_request(request: BenchmarkRequest) -> dict[str, str]:
    """Check what can be checked before anything trains.

    Returns the presets refused (an unknown name, a setting refused, a model that would not
    fit in memory) with why; the others may train.

    Raises:
        ConfigError: the dataset is of the wrong kind.
    """
    if not (is_benchmark_file(request.dataset) or request.dataset.is_dir()):
        raise ConfigError(f"{request.dataset}: expected a benchmark .json or .pickle file or "
                          "a folder")
    refused: dict[str, str] = {}
    for preset in () if request.score else request.presets:
        try:
            preset_settings(preset, request.overrides)
        except ConfigError as exc:
            refused[preset] = str(exc)
    return refused


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def run_benchmark(request: BenchmarkRequest, print_fn: Callable[[str], None],
                  error_fn: Callable[[str], None]) -> dict[str, Any]:
    """Score ``request.score`` or train and score every preset; returns the report, also
    written (after every model) as ``<out>/<dataset>-<time>.json``. A preset that fails is
    reported through ``error_fn`` and listed under ``"failures"``."""
    refused = check_request(request)
    for preset, why in refused.items():  # said at once, not after the others have trained
        error_fn(f"error: {preset}: {why}; not trained")
    dataset, train = request.dataset, request.train
    results: list[dict[str, Any]] = [score_run(run, dataset) for run in request.score]
    report: dict[str, Any] = {"dataset": str(dataset), "machine": machine_description(),
                              "date": time.strftime("%Y-%m-%d"), "results": results}
    report_path = request.out / f"{dataset.stem}-{_stamp()}.json"
    failures = [f"{preset}: {why}" for preset, why in refused.items()]
    for preset in [] if request.score else request.presets:
        if preset in refused:
            continue
        run_dir = request.out / f"{dataset.stem}-{preset}-{_stamp()}"
        try:
            row, baseline = benchmark_preset(preset, dataset, train, run_dir, print_fn,
                                             overrides=request.overrides,
                                             corpus_config=request.corpus)
        except CadenzaError as exc:  # one model's failure does not cost the others' results
            failures.append(f"{preset}: {exc}")
            error_fn(f"error: {preset}: {exc}; its run folder is {run_dir}")
            continue
        row["settings"] = {"schedule": train.schedule, "lr": train.lr, "ema": train.ema,
                           **request.overrides}
        results.append(row)
        report["independent_bernoulli"] = {"test_nll_per_step": baseline.nll_per_step,
                                           "frame_accuracy": baseline.frame_accuracy,
                                           "test_steps": baseline.steps}
        request.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(report_path, report)  # after every model, so nothing done is lost
    if failures:
        report["failures"] = failures
    if results:
        request.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(report_path, report)
    return report
