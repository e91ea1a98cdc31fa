"""What the training loop carries from step to step (:class:`LoopState`, saved in every
checkpoint) and what a call to the loop reports (:class:`TrainSummary`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cadenza.errors import CheckpointError


@dataclass
class TrainSummary:
    """What a call to :meth:`Trainer.fit` did."""

    steps_done: int
    last_train_loss: float
    first_valid_loss: float | None
    best_valid_loss: float | None
    best_step: int | None
    stopped_early: bool
    interrupted: bool
    seconds: float
    valid_history: list[tuple[int, float]] = field(default_factory=list)
    start_step: int = 0  # the step this call began at (> 0 after a resume)


@dataclass
class LoopState:
    """What the training loop carries from step to step, saved in every checkpoint.

    Attributes:
        step: updates done.
        best: the lowest validation loss so far (``None`` before the first evaluation).
        best_step: the step of ``best``.
        bad_evals: evaluations in a row without a new best (for early stopping).
        first_valid: the first validation loss of the run.
        valid_history: ``(step, validation loss)`` of every evaluation.
    """

    step: int = 0
    best: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    first_valid: float | None = None
    valid_history: list[tuple[int, float]] = field(default_factory=list)

    def record_valid(self, step: int, valid: float) -> bool:
        """Note a validation loss; True when it is the best so far."""
        self.valid_history.append((step, valid))
        if self.first_valid is None:
            self.first_valid = valid
        if self.best is None or valid < self.best:
            self.best, self.best_step, self.bad_evals = valid, step, 0
            return True
        self.bad_evals += 1
        return False

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``extra`` record (JSON-ready)."""
        data = asdict(self)
        data["valid_history"] = [[int(s), float(v)] for s, v in self.valid_history]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        """The state saved by :meth:`to_dict`.

        Raises:
            CheckpointError: a field is missing or of the wrong type.
        """
        try:
            return cls(
                step=int(data["step"]),
                best=None if data.get("best") is None else float(data["best"]),
                best_step=None if data.get("best_step") is None else int(data["best_step"]),
                bad_evals=int(data.get("bad_evals", 0)),
                first_valid=(None if data.get("first_valid") is None
                             else float(data["first_valid"])),
                valid_history=[(int(s), float(v)) for s, v in data.get("valid_history", [])],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"trainer state is damaged: {exc!r}") from None
