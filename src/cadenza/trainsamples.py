"""The MIDI sample written beside the checkpoints during training (``samples/step-N.mid``):
what the model composes at that step, with the running weight average when one is kept."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from cadenza.averaging import WeightAverage, averaged
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation
from cadenza.runwrites import write_failure

log = logging.getLogger(__name__)

SampleFn = Callable[[SequenceModel, Representation, int, Path], None]


def write_sample(
    sample_fn: SampleFn,
    model: SequenceModel,
    representation: Representation,
    step: int,
    out: Path,
    seed: int,
    average: WeightAverage | None = None,
) -> None:
    """Call ``sample_fn`` to write the sample of ``step`` to ``out``, in eval mode, with its
    own random seed (training's random state is left as it was).

    A sample that fails otherwise is logged and skipped: it must never kill a long run.

    Raises:
        RunWriteError: ``out`` could not be written (a full disk, a read-only folder).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), averaged(average):
            torch.manual_seed(seed * 1_000_003 + step)
            sample_fn(model, representation, step, out)
    except OSError as exc:  # a full disk or a read-only folder: training cannot go on
        raise write_failure(out, "sample", exc) from None
    except Exception as exc:  # a failed sample must never kill a long training run
        log.warning("could not write sample at step %d: %s", step, exc)
    finally:
        model.train(was_training)
