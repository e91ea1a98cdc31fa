"""The single training loop used by every model family.

One :class:`Trainer` takes a model, the batch makers of the training and validation splits and
a :class:`TrainConfig`, and runs teacher-forced optimisation with a learning-rate schedule,
gradient clipping, periodic validation, best-checkpoint tracking, optional early stopping,
a CSV log, checkpoints and sampled MIDI files. ``fit(resume=True)`` continues an interrupted
run and reproduces the losses of an uninterrupted one with the same seed.

Run folder layout::

    RUN_DIR/run.json         # everything needed to rebuild the run (preset, data, settings)
    RUN_DIR/log.csv          # step, split, loss, metrics, lr, seconds
    RUN_DIR/checkpoints/step-000500/ ...   (see cadenza.checkpoint)
    RUN_DIR/latest.json, RUN_DIR/best.json
    RUN_DIR/primers/         # the corpus' generation split (copied into every checkpoint)
    RUN_DIR/samples/step-000500.mid

Multi-GPU / multi-machine: launch the same ``cadenza train`` command with ``torchrun``; the
loop wraps the model in ``DistributedDataParallel`` when ``WORLD_SIZE > 1`` (see README).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cadenza.averaging import WeightAverage, averaged, load_training_weights
from cadenza.checkpoint import (
    TrainerState,
    load_trainer_state,
    load_weights,
    read_info,
    read_pointer,
    save_checkpoint,
    saved_model_config,
    write_pointer,
)
from cadenza.data.batching.base import BatchMaker
from cadenza.devices import autocast_dtype, native_bf16, pick_device, to_device
from cadenza.distributed import LossModule, ProcessGroup
from cadenza.errors import CheckpointError, ConfigError
from cadenza.fileio import write_json_atomic
from cadenza.generation.primerbank import (
    PRIMER_FOLDER,
    PRIMER_INDEX,
    Primer,
    write_primer_bank,
)
from cadenza.machine import keep_freed_memory
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation
from cadenza.runfolder import (
    append_log_row,
    check_run_folder,
    point_at,
    prune_checkpoints,
    remove_leftovers,
    truncate_log,
)
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

SampleFn = Callable[[SequenceModel, Representation, int, Path], None]
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

    # -- public ------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainSummary:
        """Train until ``config.steps`` updates are done (or early stopping / Ctrl-C)."""
        start_time = time.perf_counter()
        self._prepare_run_dir(resume)
        keep_freed_memory()  # no page faults on each step's large tensors (see its docstring)
        torch.manual_seed(self.config.seed)
        random.seed(self.config.seed)
        rng = np.random.default_rng(self.config.seed + self.rank)
        self.model.to(self.device)
        if self.config.ema:
            self.average = WeightAverage(self.model, self.config.ema)
        optimizer = make_optimizer(self.model, self.config)
        state = self._restore(optimizer, rng) if resume else LoopState()
        net = self.group.wrap(self.model, self.device)
        interrupted = stopped = False
        last_loss = float("nan")
        step = first_step = state.step
        bar = self._progress_bar(step)
        cfg_seconds = self.config.max_seconds
        try:
            while step < self.config.steps:
                self.model.train()
                factor = lr_factor(step, self.config, time.perf_counter() - start_time)
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
                step += 1
                last_loss = float(loss.item())
                if bar is not None:
                    bar.update(step, last_loss)
                stopped = self._periodic(step, last_loss, metrics, factor, optimizer, rng, state)
                over_time = bool(cfg_seconds) and time.perf_counter() - start_time > cfg_seconds
                if stopped or self.group.agree(over_time, self.device):
                    if over_time and not stopped:
                        self._say(f"time budget of {cfg_seconds:.0f} s spent at step {step}")
                    break
        except KeyboardInterrupt:
            interrupted = True
            self._say(f"interrupted at step {step}; saving a checkpoint to resume from")
            if self.rank == 0 and step > state.step:
                self._checkpoint(step, optimizer, rng, state)
        finally:
            if bar is not None:
                bar.close()
        if self.rank == 0 and not interrupted and step > state.step:
            self._checkpoint(step, optimizer, rng, state)
        self.group.leave()
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
        cfg = self.config
        lr = cfg.lr * factor
        if self.rank == 0 and cfg.log_every and step % cfg.log_every == 0:
            append_log_row(self.run_dir, step, "train", loss, metrics, lr)
            self._say(f"step {step}: train loss {loss:.4f}")
        stop = False
        if cfg.eval_every and step % cfg.eval_every == 0 and self.rank == 0:
            result = self.evaluate()
            if result is not None:
                valid = result.pop("loss")
                append_log_row(self.run_dir, step, "valid", valid, result, lr)
                marker = " (best)" if state.record_valid(step, valid) else ""
                self._say(f"step {step}: valid loss {valid:.4f}{marker}")
                patience = cfg.early_stopping_patience
                if patience and state.bad_evals >= patience:
                    self._say(f"early stopping: no improvement in {patience} evaluations")
                    stop = True
        stop = self.group.agree(stop, self.device)
        if self.rank == 0 and (stop or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)):
            self._checkpoint(step, optimizer, rng, state)
        if self.rank == 0 and cfg.sample_every and step % cfg.sample_every == 0:
            self._sample(step)
        return stop

    def _checkpoint(
        self,
        step: int,
        optimizer: torch.optim.Optimizer,
        rng: np.random.Generator,
        state: LoopState,
    ) -> None:
        state.step = step
        trainer_state = TrainerState(
            optimizer=optimizer.state_dict(),
            torch_rng=torch.get_rng_state(),
            numpy_rng=dict(rng.bit_generator.state),
            extra=state.to_dict(),
            weights=self.average.training_weights() if self.average is not None else {},
        )
        info = dict(self.run_info)
        info.update(step=step, best_valid_loss=state.best, best_step=state.best_step)
        with self.averaged():
            path = save_checkpoint(
                self.run_dir / "checkpoints" / f"step-{step:06d}",
                self.model,
                self.representation,
                info,
                trainer_state,
                attachments=[self.primer_dir] if self.primer_dir.is_dir() else [],
            )
        point_at(self.run_dir, path, step, state.best_step == step, state.best)
        prune_checkpoints(self.run_dir, self.config.keep_checkpoints)

    def _sample(self, step: int) -> None:
        if self.sample_fn is None:
            return
        out = self.run_dir / "samples" / f"step-{step:06d}.mid"
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.random.fork_rng(devices=[]), self.averaged():
                torch.manual_seed(self.config.seed * 1_000_003 + step)
                self.sample_fn(self.model, self.representation, step, out)
        except Exception as exc:  # a failed sample must never kill a long training run
            log.warning("could not write sample at step %d: %s", step, exc)
        finally:
            self.model.train(was_training)

    def _restore(self, optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> LoopState:
        """Continue from the newest intact checkpoint of the run folder.

        ``latest.json`` is only a hint: a kill between a checkpoint's rename and the pointer's
        write, or a pointer to a deleted folder, must not cost the run. Checkpoint folders are
        tried newest first; a damaged one is reported and skipped. A folder that holds
        checkpoints but no intact one is an error, never a silent start from step 0.
        """
        folders = sorted((self.run_dir / "checkpoints").glob("step-*"), reverse=True)
        if not folders:
            self._say(f"no checkpoint in {self.run_dir}; starting from step 0")
            truncate_log(self.run_dir, 0)
            return LoopState()
        problems = []
        for checkpoint in folders:
            try:
                restored = self._load_checkpoint(checkpoint, optimizer, rng)
            except CheckpointError as exc:
                if "differs from the one requested" in str(exc):
                    raise
                problems.append(str(exc))
                log.warning("cannot resume from %s: %s", checkpoint.name, exc)
                continue
            pointer = read_pointer(self.run_dir, "latest.json")
            if pointer != checkpoint:
                write_pointer(self.run_dir, "latest.json", checkpoint, step=restored.step)
                self._say(f"latest.json named {pointer.name if pointer else 'nothing usable'}; "
                          f"resuming from the newest intact checkpoint instead")
            truncate_log(self.run_dir, restored.step)
            self._say(f"resumed from {checkpoint.name} (step {restored.step})")
            return restored
        raise CheckpointError(
            f"{self.run_dir}: none of its {len(folders)} checkpoints is intact "
            f"({problems[0]}); refusing to start over in a folder that holds a run: "
            "choose another --out or remove the damaged checkpoints"
        )

    def _load_checkpoint(
        self, checkpoint: Path, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> LoopState:
        """Weights, optimiser, random states and loop state of one checkpoint folder."""
        info = read_info(checkpoint)
        if saved_model_config(info) != json.loads(json.dumps(self.model.config.to_dict())):
            raise CheckpointError(
                f"{checkpoint}: saved model config differs from the one requested; "
                "resume with the same --model (or start a new --out)"
            )
        saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        try:
            load_weights(self.model, checkpoint, info.get("weights_sha256"))
            trainer = load_trainer_state(checkpoint)
            restored = LoopState.from_dict(trainer.extra)
            optimizer.load_state_dict(trainer.optimizer)
            if self.average is not None:  # the saved weights are the average (or the model)
                self.average.reset_from_model()
            if trainer.weights:  # an averaged checkpoint: optimisation goes on from these
                load_training_weights(self.model, trainer.weights, str(checkpoint))
        except (CheckpointError, ValueError, KeyError, RuntimeError, TypeError,
                AttributeError, IndexError) as exc:  # whatever a damaged trainer state raises
            self.model.load_state_dict(saved)  # leave nothing half-loaded
            raise CheckpointError(f"{checkpoint}: {exc}") from None
        torch.set_rng_state(trainer.torch_rng)
        rng.bit_generator.state = trainer.numpy_rng
        return restored

    def _prepare_run_dir(self, resume: bool) -> None:
        if self.rank != 0:
            return
        check_run_folder(self.run_dir, str(self.run_info.get("preset", "")), resume)
        run_json = self.run_dir / "run.json"
        if not resume and (run_json.exists() or (self.run_dir / "latest.json").exists()):
            raise ConfigError(
                f"{self.run_dir}: a training run already lives here; pass --resume to "
                "continue it or choose another --out"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_leftovers(self.run_dir)
        if not run_json.exists():
            write_json_atomic(run_json, self.run_info)
        if self.primers and not (self.primer_dir / PRIMER_INDEX).is_file():
            write_primer_bank(self.primer_dir, self.primers)

    @property
    def primer_dir(self) -> Path:
        """The run's primer bank, copied into every checkpoint."""
        return self.run_dir / PRIMER_FOLDER

    # -- logging -------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        if self.rank == 0:
            self.print_fn(message)

    def _progress_bar(self, start: int) -> TrainingBar | None:
        if not self.progress or self.rank != 0:
            return None
        return TrainingBar(start, self.config.steps)
