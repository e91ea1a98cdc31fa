"""The single training loop used by every model family.

One :class:`Trainer` takes a model, the batch makers of the training and validation splits and
a :class:`TrainConfig`, and runs teacher-forced optimisation with a learning-rate schedule,
gradient clipping, periodic validation, best-checkpoint tracking, optional early stopping,
a CSV log, checkpoints and sampled MIDI files. ``fit(resume=True)`` continues an interrupted
run and reproduces the losses of an uninterrupted one with the same seed.

The loop calls its collaborators, each readable alone: :mod:`cadenza.trainconfig` (settings,
schedule, optimiser), :mod:`cadenza.validation`, :mod:`cadenza.checkpointing` (save and
resume), :mod:`cadenza.runfolder` and :mod:`cadenza.runlog` (the run folder and its log),
:mod:`cadenza.averaging` (the weight average), :mod:`cadenza.distributed` (torchrun) and
:mod:`cadenza.trainprogress` (the progress bar).

Run folder layout::

    RUN_DIR/run.json         # everything needed to rebuild the run (preset, data, settings)
    RUN_DIR/log.csv          # step, split, loss, lr, metrics (see cadenza.runlog)
    RUN_DIR/checkpoints/step-000500/ ...   (see cadenza.checkpoint)
    RUN_DIR/latest.json, RUN_DIR/best.json
    RUN_DIR/primers/         # the corpus' generation split (copied into every checkpoint)
    RUN_DIR/samples/step-000500.mid

Multi-GPU / multi-machine: launch the same ``cadenza train`` command with ``torchrun``; the
loop wraps the model in ``DistributedDataParallel`` when ``WORLD_SIZE > 1`` (see README).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cadenza.averaging import WeightAverage, averaged
from cadenza.checkpointing import Checkpointer
from cadenza.data.batching.base import BatchMaker
from cadenza.devices import autocast_dtype, native_bf16, pick_device, to_device
from cadenza.distributed import LossModule, ProcessGroup
from cadenza.errors import CadenzaError, ConfigError
from cadenza.generation.primerbank import Primer
from cadenza.machine import keep_freed_memory
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation
from cadenza.runfolder import prepare_run_folder
from cadenza.runlog import append_log_row
from cadenza.runwrites import FirstFailure
from cadenza.trainconfig import (
    DEFAULT_LR,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    TrainConfig,
    lr_factor,
    make_optimizer,
)
from cadenza.trainprogress import TrainingBar
from cadenza.trainsamples import SampleFn, write_sample
from cadenza.trainstate import LoopState, TrainSummary
from cadenza.validation import evaluate

log = logging.getLogger(__name__)

__all__ = [  # what callers import from here; the settings, devices and state live apart
    "DEFAULT_LR",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "LoopState",
    "LossModule",
    "PrintFn",
    "SampleFn",
    "TrainConfig",
    "TrainSummary",
    "Trainer",
    "autocast_dtype",
    "lr_factor",
    "make_optimizer",
    "native_bf16",
    "pick_device",
    "to_device",
]

PrintFn = Callable[[str], None]


class Trainer:
    """Runs the training loop for any :class:`SequenceModel`."""

    def __init__(
        self,
        model: SequenceModel,
        representation: Representation,
        train_batches: BatchMaker,
        valid_batches: BatchMaker | None,
        config: TrainConfig,
        run_dir: str | Path,
        run_info: dict[str, Any],
        *,
        sample_fn: SampleFn | None = None,
        print_fn: PrintFn | None = None,
        progress: bool = False,
        primers: Sequence[Primer] = (),
    ) -> None:
        self.model = model
        self.primers = primers
        self.representation = representation
        self.train_batches = train_batches
        self.valid_batches = valid_batches
        self.config = config
        self.run_dir = Path(run_dir)
        self.run_info = run_info
        self.sample_fn = sample_fn
        self.print_fn = print_fn or (lambda message: log.info("%s", message))
        self.progress = progress
        self.group = ProcessGroup()
        self.rank = self.group.rank
        self.device = self.group.device(pick_device(config.device))
        clip, mode = config.grad_clip, config.clip_mode
        if clip is None:  # the model's own setting (RNN4Music clips element-wise at 30)
            clip = getattr(model.config, "grad_clip", None) or None
            mode = getattr(model.config, "clip_mode", mode)
        self.grad_clip: float | None = clip
        self.clip_mode = mode
        self.autocast = autocast_dtype(config.precision, self.device)
        self.average: WeightAverage | None = None  # set up by fit() when config.ema > 0
        self.checkpoints = Checkpointer(model, representation, self.run_dir, run_info,
                                        config.keep_checkpoints, self._say)
        self.writes = FirstFailure()  # rank 0's writes during fit (see _stopped_by)

    # -- public ------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainSummary:
        """Train until ``config.steps`` updates are done (or early stopping / Ctrl-C).

        Raises:
            RunWriteError, CheckpointError: a file of the run could not be written (a full
                disk, a read-only folder); training stopped there, its last checkpoint intact.
        """
        start_time = time.perf_counter()
        self.writes = FirstFailure()
        optimizer, rng, state = self._start(resume)
        net = self.group.wrap(self.model, self.device)
        interrupted = stopped = False
        last_loss = float("nan")
        step = first_step = state.step
        bar = self._progress_bar(step)
        try:
            while step < self.config.steps:
                factor = lr_factor(step, self.config, time.perf_counter() - start_time)
                last_loss, metrics = self._update(net, optimizer, rng, step, factor)
                step += 1
                if bar is not None:
                    bar.update(step, last_loss)
                stopped = self._periodic(step, last_loss, metrics, factor, optimizer, rng, state)
                if stopped or self._should_stop(step, start_time):
                    break
        except KeyboardInterrupt:
            interrupted = True
            self._say(f"interrupted at step {step}; saving a checkpoint to resume from")
            if self.rank == 0 and step > state.step:
                self.writes.run(self.checkpoints.save, step, optimizer, rng, state, self.average)
        finally:
            if bar is not None:
                bar.close()
        if self.rank == 0 and not interrupted and step > state.step:
            self.writes.run(self.checkpoints.save, step, optimizer, rng, state, self.average)
        self.group.leave()
        if self.writes.error is not None:
            raise self._stopped_by(self.writes.error, step)
        return TrainSummary(
            steps_done=step,
            last_train_loss=last_loss,
            first_valid_loss=state.first_valid,
            best_valid_loss=state.best,
            best_step=state.best_step,
            stopped_early=stopped,
            interrupted=interrupted,
            seconds=time.perf_counter() - start_time,
            valid_history=list(state.valid_history),
            start_step=first_step,
        )

    def evaluate(self) -> dict[str, float] | None:
        """Mean loss and metrics over the validation batches (``None`` without a valid split)."""
        if self.valid_batches is None:
            return None
        return evaluate(self.model, self.valid_batches, self.device, self.average)

    def averaged(self) -> AbstractContextManager[None]:
        """Within it the model holds the running average of its weights (if one is kept)."""
        return averaged(self.average)

    # -- internals ---------------------------------------------------------------------------
    def _start(
        self, resume: bool
    ) -> tuple[torch.optim.Optimizer, np.random.Generator, LoopState]:
        """The run folder made ready, seeds set, the model on its device with its optimiser
        (and weight average), and the loop state: a fresh one, or the resumed checkpoint's."""
        if self.rank == 0:
            prepare_run_folder(self.run_dir, self.run_info, resume, self.primers)
        keep_freed_memory()  # no page faults on each step's large tensors (see its docstring)
        torch.manual_seed(self.config.seed)
        random.seed(self.config.seed)
        rng = np.random.default_rng(self.config.seed + self.rank)
        self.model.to(self.device)
        if self.config.ema:
            self.average = WeightAverage(self.model, self.config.ema)
        optimizer = make_optimizer(self.model, self.config)
        state = (self.checkpoints.restore(optimizer, rng, self.average) if resume
                 else LoopState())
        return optimizer, rng, state

    def _update(
        self,
        net: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        rng: np.random.Generator,
        step: int,
        factor: float,
    ) -> tuple[float, dict[str, float]]:
        """One optimisation step (update number ``step``, 0-based) at ``factor`` times the
        base learning rate, on a fresh training batch; returns its loss and metrics."""
        self.model.train()
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        batch = to_device(self.train_batches.training_batch(rng), self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.autocast is not None):
            loss, metrics = net(batch)
        if not torch.isfinite(loss):
            raise ConfigError(
                f"training loss became {loss.item()} at step {step + 1}; "
                "lower the learning rate or enable gradient clipping"
            )
        optimizer.zero_grad(set_to_none=True)
        if self.config.optimizer == "adadelta":  # the original's summed cost
            (loss * self.model.summed_cost_terms(batch)).backward()
        else:
            loss.backward()
        if self.grad_clip and self.clip_mode == "value":
            torch.nn.utils.clip_grad_value_(self.model.parameters(), self.grad_clip)
        elif self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        optimizer.step()
        if self.average is not None:
            self.average.update(step)
        return float(loss.item()), metrics

    def _should_stop(self, step: int, start_time: float) -> bool:
        """Whether the time budget (``max_seconds``) is spent or a write failed, as every
        rank agrees."""
        seconds = self.config.max_seconds
        over_time = bool(seconds) and time.perf_counter() - start_time > seconds
        if over_time:
            self._say(f"time budget of {seconds:.0f} s spent at step {step}")
        return self.group.agree(over_time or self.writes.failed, self.device)

    def _stopped_by(self, failure: CadenzaError, step: int) -> CadenzaError:
        """``failure`` (one line) completed with where training stopped and what it kept."""
        last = self.checkpoints.last_step
        kept = (f"its last checkpoint, step {last}, is intact (--resume continues from it)"
                if last is not None else "no checkpoint was saved")
        return type(failure)(f"{failure}; training stopped at step {step}, {kept}")

    def _periodic(
        self,
        step: int,
        loss: float,
        metrics: dict[str, float],
        factor: float,
        optimizer: torch.optim.Optimizer,
        rng: np.random.Generator,
        state: LoopState,
    ) -> bool:
        """What falls due after update ``step``: a log row, a validation, a checkpoint, a
        sample. Returns whether training stops here (early stopping, a failed write), as every
        rank agrees."""
        cfg, writes = self.config, self.writes
        lr = cfg.lr * factor
        if self.rank == 0 and cfg.log_every and step % cfg.log_every == 0:
            writes.run(append_log_row, self.run_dir, step, "train", loss, metrics, lr)
            self._say(f"step {step}: train loss {loss:.4f}")
        stop = False
        if cfg.eval_every and step % cfg.eval_every == 0 and self.rank == 0:
            stop = bool(writes.run(self._validate, step, lr, state))
        stop = self.group.agree(stop or writes.failed, self.device)
        if self.rank == 0 and (stop or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)):
            writes.run(self.checkpoints.save, step, optimizer, rng, state, self.average)
        if self.rank == 0 and cfg.sample_every and step % cfg.sample_every == 0:
            writes.run(self._sample, step)
        return stop

    def _validate(self, step: int, lr: float, state: LoopState) -> bool:
        """Validate, log and note the result; True when early stopping's patience is spent."""
        result = self.evaluate()
        if result is None:
            return False
        valid = result.pop("loss")
        append_log_row(self.run_dir, step, "valid", valid, result, lr)
        marker = " (best)" if state.record_valid(step, valid) else ""
        self._say(f"step {step}: valid loss {valid:.4f}{marker}")
        patience = self.config.early_stopping_patience
        if patience and state.bad_evals >= patience:
            self._say(f"early stopping: no improvement in {patience} evaluations")
            return True
        return False

    def _sample(self, step: int) -> None:
        if self.sample_fn is not None:
            out = self.run_dir / "samples" / f"step-{step:06d}.mid"
            write_sample(self.sample_fn, self.model, self.representation, step, out,
                         self.config.seed, self.average)

    # -- logging -------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        if self.rank == 0:
            self.print_fn(message)

    def _progress_bar(self, start: int) -> TrainingBar | None:
        if not self.progress or self.rank != 0:
            return None
        return TrainingBar(start, self.config.steps)
