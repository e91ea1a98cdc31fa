"""The polyphonic-music likelihood protocol (Boulanger-Lewandowski et al., 2012).

The quantity is the negative log-likelihood per time step on the test split: for every step
of every test piece, the sum over the 88 keys (MIDI 21..108) of the binary cross-entropy of
"this key sounds", in nats, averaged over all test steps pooled across pieces (not per
piece). Each piece is scored from the model's initial state with an all-silent step in front
of it, so every step of the piece is predicted and counted.

Piano-roll LSTM: the 88 outputs are exactly the 88 key probabilities.

Biaxial LSTM: the benchmark has no articulation, so cadenza runs the biaxial model on the
88 keys (note state range 21..108) with ``play`` = the key sounds and ``articulate`` = the
key starts sounding at this step (it did not sound at the step before). Articulate is then a
function of the play bits, so conditioning the note axis on the lower keys' actual
``[play, articulate]`` is conditioning on play bits only, and the model's ``P(play)`` for key
``n`` is exactly ``P(x_t,n | x_<t, x_t,<n)``. The product over keys of these conditionals is
the exact likelihood of the step's 88 play bits (chain rule up the keyboard); its
``P(articulate | play)`` output is not charged. The reported number is therefore the same
quantity the piano-roll model is charged for, computed exactly, not a bound.

Frame-level accuracy (Bay et al., 2009): ``TP / (TP + FP + FN)`` pooled over all test steps,
predicting a key on when its probability is at least 0.5. ``frame_accuracy`` predicts every
frame from the past alone, for every family: the piano roll's keys are independent given the
past; the biaxial model walks up the keyboard feeding each key its own greedy choices for the
keys below (never the true ones). The biaxial model's teacher-forced accuracy, where each key
is predicted from the *true* keys below it in the same frame, is an easier task; it is
reported separately as ``frame_accuracy_teacher_forced`` and is not comparable with the
piano roll's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cadenza.errors import ConfigError
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation


@dataclass(frozen=True)
class LikelihoodResult:
    """Test-split figures of one model."""

    nll_per_step: float  # nats, summed over 88 keys, averaged over all steps
    frame_accuracy: float  # TP / (TP + FP + FN), pooled, each frame predicted from the past
    steps: int
    pieces: int
    # Biaxial only: each key given the true keys below it in the same frame (easier).
    frame_accuracy_teacher_forced: float | None = None


class _Counts:
    """True positives, false positives and false negatives of on/off predictions."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def add(self, predicted: torch.Tensor, truth: torch.Tensor) -> None:
        self.tp += int((predicted & truth).sum())
        self.fp += int((predicted & ~truth).sum())
        self.fn += int((~predicted & truth).sum())

    def accuracy(self) -> float:
        return _accuracy(self.tp, self.fp, self.fn)


@torch.no_grad()
def evaluate_likelihood(
    model: SequenceModel, representation: Representation, arrays: Sequence[np.ndarray]
) -> LikelihoodResult:
    """Score encoded test pieces (piano rolls or note states) with the protocol above."""
    model.eval()
    total_nll = 0.0
    steps = 0
    past_only, teacher_forced = _Counts(), _Counts()
    forced_differs = False
    for array in arrays:
        if len(array) == 0:
            continue
        scores = model.play_scores(representation, array)
        logits, target = scores.logits, scores.target
        total_nll += float(F.binary_cross_entropy_with_logits(logits, target, reduction="sum"))
        truth = target > 0.5
        teacher_forced.add(logits >= 0, truth)  # probability >= 0.5
        if scores.past_only is not None:
            forced_differs = True
        past_only.add(logits >= 0 if scores.past_only is None else scores.past_only, truth)
        steps += len(array)
    if steps == 0:
        raise ConfigError("no test steps to evaluate")
    forced = teacher_forced.accuracy() if forced_differs else None
    return LikelihoodResult(total_nll / steps, past_only.accuracy(), steps, len(arrays), forced)


def _accuracy(tp: float, fp: float, fn: float) -> float:
    """Bay et al.'s frame accuracy TP / (TP + FP + FN); 1 when there is nothing to find."""
    return tp / (tp + fp + fn) if tp + fp + fn else 1.0


def bernoulli_baseline(
    train: Sequence[np.ndarray], test: Sequence[np.ndarray]
) -> LikelihoodResult:
    """The protocol's figure for independent keys at their training frequencies.

    Each key sounds with probability ``(count + 1) / (train steps + 2)`` (add-one smoothing,
    so no key is impossible), whatever came before. Arrays are piano rolls (T, K) or note
    states (T, K, 2), whose play bits are used. About 11.1 nats on JSB test and 10.3 on
    Nottingham: the floor a sequence model must clear.
    """

    def play(arrays: Sequence[np.ndarray]) -> np.ndarray:
        bits = [a[..., 0] if a.ndim == 3 else a for a in arrays if len(a)]
        if not bits:
            raise ConfigError("the baseline needs at least one non-empty piece per split")
        return np.concatenate(bits).astype(np.float64)

    x_train, x_test = play(train), play(test)
    p = (x_train.sum(axis=0) + 1) / (len(x_train) + 2)
    nll = -(x_test * np.log(p) + (1 - x_test) * np.log1p(-p)).sum() / len(x_test)
    on = p >= 0.5  # the keys predicted on at every step
    tp = float(x_test[:, on].sum())
    fp = float((1 - x_test[:, on]).sum())
    fn = float(x_test[:, ~on].sum())
    return LikelihoodResult(float(nll), _accuracy(tp, fp, fn), len(x_test), len(test))


# Published test NLL per step (nats), lower is better: (JSB Chorales, Nottingham).
PUBLISHED = {
    "RNN-RBM (Boulanger-Lewandowski 2012)": (6.27, 2.39),
    "RNN-NADE (Boulanger-Lewandowski 2012)": (5.56, 2.31),
    "LSTM (Chung et al. 2014)": (8.67, 3.20),
    "GRU (Chung et al. 2014)": (8.54, 3.23),
}


def result_row(result: LikelihoodResult) -> dict[str, Any]:
    """The JSON figures of one scored model (past-only frame accuracy first)."""
    row: dict[str, Any] = {
        "test_nll_per_step": result.nll_per_step,
        "frame_accuracy": result.frame_accuracy,
        "test_steps": result.steps,
        "test_pieces": result.pieces,
    }
    if result.frame_accuracy_teacher_forced is not None:
        row["frame_accuracy_teacher_forced"] = result.frame_accuracy_teacher_forced
    return row


def test_split(dataset: str | Path) -> str:
    """The split scored: a benchmark set's own ``test``; for a MIDI folder, split by cadenza's
    path hash, the ``generation`` pieces (never trained on, never used to pick a checkpoint)."""
    from cadenza.data.boulanger import is_benchmark_file

    return "test" if is_benchmark_file(dataset) else "generation"


def score_run(run: str | Path, dataset: str | Path) -> dict[str, Any]:
    """Score the best checkpoint of ``run`` (or a checkpoint folder) on ``dataset``'s test split.

    The dataset is read as training read it (the checkpoint's own representation), so a run
    trained earlier can be re-scored after the protocol changes, without training again.
    """
    from cadenza.checkpoint import load_checkpoint
    from cadenza.data.corpus import CorpusConfig
    from cadenza.data.pipeline import build_corpus

    best = load_checkpoint(run)
    config = CorpusConfig.from_dict(best.info.get("data", {}).get("corpus", {}))
    corpus = build_corpus(dataset, best.representation, config, fit=False, progress=False)
    test = evaluate_likelihood(best.model, best.representation,
                               corpus.arrays(test_split(dataset)))
    return {"model": best.preset or best.model.family, **result_row(test),
            "best_step": best.step, "run": str(run)}


def benchmark_preset(
    preset: str,
    dataset: str | Path,
    train_config: Any,
    run_dir: str | Path,
    print_fn: Callable[[str], None] | None = None,
    overrides: dict[str, Any] | None = None,
    corpus_config: Any = None,
) -> tuple[dict[str, Any], LikelihoodResult]:
    """The protocol end to end: train ``preset`` on the training split (``train_config``, a
    :class:`cadenza.training.TrainConfig`, bounds steps and time), keep the checkpoint with
    the best validation loss, score it on the test split. Returns the JSON row and, for the
    baseline, the independent-Bernoulli figures on the same split."""
    from cadenza.checkpoint import load_checkpoint
    from cadenza.experiment import prepare_experiment
    from cadenza.training import Trainer

    experiment = prepare_experiment(preset, Path(dataset), progress=False,
                                    seed=train_config.seed, overrides=overrides, protocol=True,
                                    corpus_config=corpus_config)
    trainer = Trainer(experiment.model, experiment.representation, experiment.train_batches,
                      experiment.valid_batches, train_config, run_dir,
                      experiment.run_info(train_config.to_dict()), print_fn=print_fn)
    summary = trainer.fit()
    best = load_checkpoint(run_dir)
    corpus = experiment.corpus
    split = test_split(dataset)
    test = evaluate_likelihood(best.model, best.representation, corpus.arrays(split))
    row = {"model": preset, **result_row(test), "train_steps": summary.steps_done,
           "best_step": best.step, "train_seconds": round(summary.seconds, 1),
           "best_valid_loss": summary.best_valid_loss,
           "valid_history": summary.valid_history, "run": str(run_dir)}
    baseline = bernoulli_baseline(corpus.arrays("train"), corpus.arrays(split))
    return row, baseline
