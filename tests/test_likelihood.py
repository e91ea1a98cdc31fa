"""The likelihood protocol: exact per-step NLL for piano-roll and biaxial models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cadenza.errors import ConfigError
from cadenza.likelihood import evaluate_likelihood
from cadenza.models.registry import build_model, fit_config, get_preset
from cadenza.representations import NoteState, NoteStateConfig, PianoRoll


def _random_rolls(count: int, length: int, keys: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.random((length, keys)) < 0.2).astype(np.uint8) for _ in range(count)]


def test_pianoroll_nll_matches_a_direct_computation() -> None:
    torch.manual_seed(0)
    model = build_model(get_preset("pianoroll-debug")).eval()
    rolls = _random_rolls(3, 7, 88)
    result = evaluate_likelihood(model, PianoRoll(), rolls)
    total, steps = 0.0, 0
    for roll in rolls:  # predict step by step from the initial state and a silent frame
        state = model.init_state(1)
        frame = torch.zeros(1, 88)
        for row in roll:
            out, state = model.step(frame, state)
            p = out["probs"][0].double()
            x = torch.from_numpy(row).double()
            total -= float((x * p.log() + (1 - x) * (1 - p).log()).sum())
            frame = torch.from_numpy(row[None].astype(np.float32))
            steps += 1
    assert result.steps == steps == 21 and result.pieces == 3
    assert result.nll_per_step == pytest.approx(total / steps, rel=1e-4)


def _biaxial_on(keys: int) -> tuple[torch.nn.Module, NoteState]:
    rep = NoteState(NoteStateConfig(low=60, high=60 + keys - 1))
    torch.manual_seed(1)
    model = build_model(fit_config(get_preset("biaxial-debug"), rep)).eval()
    return model, rep


def _state_from_play(play: np.ndarray) -> np.ndarray:
    """(T, N) play bits -> (T, N, 2) with articulate = starts sounding at this step."""
    before = np.concatenate([np.zeros_like(play[:1]), play[:-1]])
    return np.stack([play, play & (1 - before)], axis=-1).astype(np.uint8)


def test_biaxial_play_likelihood_is_a_distribution_over_the_keys() -> None:
    """Summing P(step) over every play pattern of 4 keys gives exactly 1."""
    model, rep = _biaxial_on(4)
    history = np.array([[1, 0, 0, 1], [1, 1, 0, 0]], dtype=np.uint8)
    total = 0.0
    for pattern in itertools.product((0, 1), repeat=4):
        play = np.concatenate([history, np.array([pattern], dtype=np.uint8)])
        nll_all = evaluate_likelihood(model, rep, [_state_from_play(play)]).nll_per_step * 3
        nll_history = evaluate_likelihood(model, rep, [_state_from_play(history)]).nll_per_step * 2
        total += float(np.exp(-(nll_all - nll_history)))
    assert total == pytest.approx(1.0, abs=1e-4)


def test_biaxial_nll_matches_its_teacher_forced_logits() -> None:
    model, rep = _biaxial_on(6)
    play = _random_rolls(1, 9, 6, seed=4)[0]
    state = _state_from_play(play)
    result = evaluate_likelihood(model, rep, [state])
    padded = np.concatenate([np.zeros_like(state[:1]), state])
    feats = torch.from_numpy(rep.input_features(padded[:-1]))[None]
    target = torch.from_numpy(state.astype(np.float32))[None]
    with torch.no_grad():
        logits = model.logits(feats, target)[..., 0]
    expected = F.binary_cross_entropy_with_logits(logits, target[..., 0], reduction="sum") / 9
    assert result.nll_per_step == pytest.approx(float(expected), rel=1e-5)
    assert 0.0 <= result.frame_accuracy <= 1.0


def test_other_families_are_refused() -> None:
    model = build_model(get_preset("events-debug"))
    with pytest.raises(ConfigError, match="piano-roll and biaxial"):
        evaluate_likelihood(model, PianoRoll(), [np.zeros((4, 3), dtype=np.int32)])
