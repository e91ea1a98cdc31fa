"""A classifier two-sample test: how well can a simple classifier tell two sets apart?

Each sample is a row of features with a label (0 or 1) and a *group* (the piece or seed it
came from). :func:`cv_accuracy` trains an L2-regularised logistic regression
(:func:`fit_logistic`, Newton's method in numpy) on standardised features in k-fold
cross-validation whose folds keep every group whole and hold the two labels in the same
proportion (:func:`grouped_folds`), and returns the share of held-out samples it labels
correctly: about 0.5 when the sets cannot be told apart, 1.0 when they always can. Features
constant over every sample carry nothing and are found with :func:`constant_columns`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_L2 = 1.0  # the penalty 0.5 * l2 * |w|^2 beside the summed log-loss (sklearn's C = 1)


def constant_columns(x: np.ndarray) -> np.ndarray:
    """Bool array ``(F,)``: True where a column of ``x`` ``(N, F)`` has one value only."""
    if len(x) == 0:
        return np.ones(x.shape[1], dtype=bool)
    return np.asarray((x == x[0]).all(axis=0))


def standardiser(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of each column of ``train``; a column with no spread gets scale 1, so
    that it standardises to 0 and the classifier cannot use it."""
    mean = train.mean(axis=0)
    scale = train.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _objective(x1: np.ndarray, y: np.ndarray, theta: np.ndarray, l2: float) -> float:
    z = x1 @ theta
    loss = np.logaddexp(0.0, z) - y * z  # -log p(y | x), summed
    return float(loss.sum() + 0.5 * l2 * (theta[:-1] @ theta[:-1]))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = DEFAULT_L2, iterations: int = 100,
                 tolerance: float = 1e-10) -> tuple[np.ndarray, float]:
    """Weights ``(F,)`` and bias of the logistic regression minimising the summed log-loss of
    labels ``y`` (0/1) plus ``0.5 * l2 * |w|^2`` (the bias is not penalised).

    Newton's method with step halving; ``l2 > 0`` makes the problem strictly convex, so it
    converges even when the two classes are separable.
    """
    if l2 <= 0:
        raise ValueError(f"l2 must be positive, got {l2}")
    n, f = x.shape
    x1 = np.hstack([x, np.ones((n, 1))])  # (N, F + 1): the last column is the bias
    penalty = np.full(f + 1, l2)
    penalty[-1] = 1e-9  # keeps the Hessian invertible when one class is empty
    theta = np.zeros(f + 1)
    current = _objective(x1, y, theta, l2)
    for _ in range(iterations):
        p = _sigmoid(x1 @ theta)
        gradient = x1.T @ (p - y) + penalty * theta
        hessian = (x1 * (p * (1 - p))[:, None]).T @ x1 + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6:
            candidate = theta - scale * step
            value = _objective(x1, y, candidate, l2)
            if value <= current:
                break
            scale /= 2
        else:
            break
        theta, previous, current = candidate, current, value
        if previous - current <= tolerance * max(1.0, abs(current)):
            break
    return theta[:-1], float(theta[-1])


def predict_proba(x: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    """Probability of label 1 for each row of ``x``: shape ``(N,)``."""
    return _sigmoid(x @ weights + bias)


def grouped_folds(labels: np.ndarray, groups: np.ndarray, folds: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Fold index ``(N,)`` of each sample: every group lies in one fold, and each label's
    samples spread evenly over the folds (stratified group k-fold).

    Each label's groups are shuffled, ordered from largest to smallest (the shuffle breaks
    ties) and each goes to the fold holding the fewest samples of that label so far.

    Raises:
        ValueError: a group holds both labels, or a label has fewer groups than folds.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    fold_of = np.full(len(labels), -1)
    for label in np.unique(labels):
        mine = np.unique(groups[labels == label])
        if np.isin(mine, groups[labels != label]).any():
            raise ValueError(f"a group holds samples of both labels (label {label})")
        if len(mine) < folds:
            raise ValueError(f"label {label} has {len(mine)} groups, fewer than {folds} folds")
        mine = mine[rng.permutation(len(mine))]
        sizes = np.array([(groups == g).sum() for g in mine])
        filled = np.zeros(folds, dtype=np.int64)
        for index in np.argsort(-sizes, kind="stable"):
            target = int(np.argmin(filled))
            fold_of[groups == mine[index]] = target
            filled[target] += sizes[index]
    return fold_of


@dataclass(frozen=True)
class CvResult:
    """Cross-validated accuracy: the mean over repeats and each repeat's value."""

    accuracy: float
    repeats: tuple[float, ...]
    samples: int
    features: int


def cv_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5,
                l2: float = DEFAULT_L2, repeats: int = 1, seed: int = 0) -> CvResult:
    """Share of samples a logistic regression labels correctly when it has not seen their
    group: ``folds``-fold grouped, stratified cross-validation, standardising on each
    training part, repeated ``repeats`` times with fresh folds (seeded by ``seed``)."""
    y = np.asarray(y, dtype=np.float64)
    results = []
    for repeat in range(repeats):
        fold_of = grouped_folds(y, groups, folds, np.random.default_rng([seed, repeat]))
        correct = 0
        for fold in range(folds):
            test = fold_of == fold
            mean, scale = standardiser(x[~test])
            weights, bias = fit_logistic((x[~test] - mean) / scale, y[~test], l2)
            guess = predict_proba((x[test] - mean) / scale, weights, bias) >= 0.5
            correct += int((guess == (y[test] == 1)).sum())
        results.append(correct / len(y))
    return CvResult(float(np.mean(results)), tuple(results), len(y), x.shape[1])


def standardised_weights(x: np.ndarray, y: np.ndarray, l2: float = DEFAULT_L2) -> np.ndarray:
    """Weights ``(F,)`` of the classifier fitted on all samples' standardised features: how
    much, and which way, each feature pushes a sample towards label 1."""
    mean, scale = standardiser(x)
    weights, _ = fit_logistic((x - mean) / scale, np.asarray(y, dtype=np.float64), l2)
    return weights
