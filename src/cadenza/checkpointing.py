"""The trainer's checkpoints: each save writes a checkpoint folder of the run, its pointers and
prunes old ones; a resume continues from the newest intact checkpoint.

What a checkpoint folder holds is :mod:`cadenza.checkpoint`'s; the run folder's pointers and
pruning are :mod:`cadenza.runfolder`'s. This module decides what the loop saves (the model, or
its running weight average, plus the optimiser, random states and :class:`LoopState`) and how
a resume picks and restores them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
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
from cadenza.errors import CheckpointError
from cadenza.generation.primerbank import PRIMER_FOLDER
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation
from cadenza.runfolder import point_at, prune_checkpoints
from cadenza.runlog import truncate_log
from cadenza.trainstate import LoopState

log = logging.getLogger(__name__)


class Checkpointer:
    """Saves a training run's checkpoints into its folder and resumes from them.

    Args:
        model: the model being trained (its weights are saved and restored in place).
        representation: saved with every checkpoint.
        run_dir: the run folder.
        run_info: the run's record (``run.json``), saved in every checkpoint's config.
        keep: how many recent checkpoints pruning keeps (besides the best and the latest).
        say: prints a line for the user.
    """

    def __init__(
        self,
        model: SequenceModel,
        representation: Representation,
        run_dir: Path,
        run_info: dict[str, Any],
        keep: int,
        say: Callable[[str], None],
    ) -> None:
        self.model = model
        self.representation = representation
        self.run_dir = run_dir
        self.run_info = run_info
        self.keep = keep
        self.say = say
        self.last_step: int | None = None  # of the newest checkpoint saved or resumed from

    @property
    def primer_dir(self) -> Path:
        """The run's primer bank, copied into every checkpoint."""
        return self.run_dir / PRIMER_FOLDER

    def save(
        self,
        step: int,
        optimizer: torch.optim.Optimizer,
        rng: np.random.Generator,
        state: LoopState,
        average: WeightAverage | None,
    ) -> Path:
        """Write the checkpoint of ``step`` (the average's weights when one is kept), point
        ``latest.json`` (and ``best.json`` for a new best) at it and prune older ones.

        Raises:
            CheckpointError, RunWriteError: the checkpoint or a pointer could not be written;
                the checkpoints written before are intact.
        """
        state.step = step
        trainer_state = TrainerState(
            optimizer=optimizer.state_dict(),
            torch_rng=torch.get_rng_state(),
            numpy_rng=dict(rng.bit_generator.state),
            extra=state.to_dict(),
            weights=average.training_weights() if average is not None else {},
        )
        info = dict(self.run_info)
        info.update(step=step, best_valid_loss=state.best, best_step=state.best_step)
        with averaged(average):
            path = save_checkpoint(
                self.run_dir / "checkpoints" / f"step-{step:06d}",
                self.model,
                self.representation,
                info,
                trainer_state,
                attachments=[self.primer_dir] if self.primer_dir.is_dir() else [],
            )
        self.last_step = step
        point_at(self.run_dir, path, step, state.best_step == step, state.best)
        prune_checkpoints(self.run_dir, self.keep)
        return path

    def restore(
        self, optimizer: torch.optim.Optimizer, rng: np.random.Generator,
        average: WeightAverage | None,
    ) -> LoopState:
        """Continue from the newest intact checkpoint of the run folder.

        ``latest.json`` is only a hint: a kill between a checkpoint's rename and the pointer's
        write, or a pointer to a deleted folder, must not cost the run. Checkpoint folders are
        tried newest first; a damaged one is reported and skipped. A folder that holds
        checkpoints but no intact one is an error, never a silent start from step 0.
        """
        folders = sorted((self.run_dir / "checkpoints").glob("step-*"), reverse=True)
        if not folders:
            self.say(f"no checkpoint in {self.run_dir}; starting from step 0")
            truncate_log(self.run_dir, 0)
            return LoopState()
        problems = []
        for checkpoint in folders:
            try:
                restored = self._load(checkpoint, optimizer, rng, average)
            except CheckpointError as exc:
                if "differs from the one requested" in str(exc):
                    raise
                problems.append(str(exc))
                log.warning("cannot resume from %s: %s", checkpoint.name, exc)
                continue
            pointer = read_pointer(self.run_dir, "latest.json")
            if pointer != checkpoint:
                write_pointer(self.run_dir, "latest.json", checkpoint, step=restored.step)
                self.say(f"latest.json named {pointer.name if pointer else 'nothing usable'}; "
                         f"resuming from the newest intact checkpoint instead")
            truncate_log(self.run_dir, restored.step)
            self.last_step = restored.step
            self.say(f"resumed from {checkpoint.name} (step {restored.step})")
            return restored
        raise CheckpointError(
            f"{self.run_dir}: none of its {len(folders)} checkpoints is intact "
            f"({problems[0]}); refusing to start over in a folder that holds a run: "
            "choose another --out or remove the damaged checkpoints"
        )

    def _load(
        self, checkpoint: Path, optimizer: torch.optim.Optimizer, rng: np.random.Generator,
        average: WeightAverage | None,
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
            if average is not None:  # the saved weights are the average (or the model)
                average.reset_from_model()
            if trainer.weights:  # an averaged checkpoint: optimisation goes on from these
                load_training_weights(self.model, trainer.weights, str(checkpoint))
        except (CheckpointError, ValueError, KeyError, RuntimeError, TypeError,
                AttributeError, IndexError) as exc:  # whatever a damaged trainer state raises
            self.model.load_state_dict(saved)  # leave nothing half-loaded
            raise CheckpointError(f"{checkpoint}: {exc}") from None
        torch.set_rng_state(trainer.torch_rng)
        rng.bit_generator.state = trainer.numpy_rng
        return restored
