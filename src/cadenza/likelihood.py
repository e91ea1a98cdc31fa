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
predicting a key on when its probability is at least 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    frame_accuracy: float  # TP / (TP + FP + FN), pooled
    steps: int
    pieces: int


@torch.no_grad()
def evaluate_likelihood(
    model: SequenceModel, representation: Representation, arrays: Sequence[np.ndarray]
) -> LikelihoodResult:
    """Score encoded test pieces (piano rolls or note states) with the protocol above."""
    model.eval()
    device = next(model.parameters()).device
    total_nll = 0.0
    steps = tp = fp = fn = 0
    for array in arrays:
        if len(array) == 0:
            continue
        logits, target = _play_logits(model, representation, array, device)
        total_nll += float(F.binary_cross_entropy_with_logits(logits, target, reduction="sum"))
        predicted = logits >= 0  # probability >= 0.5
        truth = target > 0.5
        tp += int((predicted & truth).sum())
        fp += int((predicted & ~truth).sum())
        fn += int((~predicted & truth).sum())
        steps += len(array)
    if steps == 0:
        raise ConfigError("no test steps to evaluate")
    return LikelihoodResult(total_nll / steps, _accuracy(tp, fp, fn), steps, len(arrays))


def _accuracy(tp: float, fp: float, fn: float) -> float:
    """Bay et al.'s frame accuracy TP / (TP + FP + FN); 1 when there is nothing to find."""
    return tp / (tp + fp + fn) if tp + fp + fn else 1.0


def _play_logits(
    model: SequenceModel, representation: Representation, array: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced logits and targets of the play bits of one piece: (T, keys) each."""
    if model.family == "pianoroll":
        roll = torch.from_numpy(array.astype(np.float32)).to(device)  # (T, K)
        inputs = torch.cat([torch.zeros_like(roll[:1]), roll[:-1]])[None]  # (1, T, K)
        return model.logits(inputs)[0], roll  # type: ignore[operator]
    if model.family == "biaxial":
        state = array.astype(np.float32)  # (T, N, 2)
        padded = np.concatenate([np.zeros_like(state[:1]), state])  # silent step in front
        features = representation.input_features(padded[:-1])  # type: ignore[attr-defined]
        feats = torch.from_numpy(features)[None].to(device)  # (1, T, N, 80)
        target = torch.from_numpy(state)[None].to(device)  # (1, T, N, 2)
        logits = model.logits(feats, target)  # type: ignore[operator]
        return logits[0, ..., 0], target[0, ..., 0]
    raise ConfigError(
        f"the likelihood benchmark scores piano-roll and biaxial models, not {model.family!r}"
    )


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
