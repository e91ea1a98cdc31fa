"""Rhythmic input noise for biaxial training (``input_noise``): what it changes and what not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cadenza.data.batching.inputnoise import corrupt_onsets
from cadenza.data.batching.notestate import NoteStateBatchMaker
from cadenza.errors import ConfigError, DataError
from cadenza.families import get_family
from cadenza.models.biaxial import PRESETS, BiaxialConfig
from cadenza.representations.notestate import NoteState

N = 78


def melody(length: int, seed: int = 0) -> np.ndarray:
    """(length, N, 3) notes of 1-4 steps with gaps and repeated keys, velocity bin 3."""
    rng = np.random.default_rng(seed)
    piece = np.zeros((length, N, 3), dtype=np.uint8)
    for key in range(20, 60, 3):
        t = int(rng.integers(0, 4))
        while t < length:
            held = int(rng.integers(1, 5))
            piece[t : t + held, key, 0] = 1
            piece[t, key, 1] = 1
            piece[t, key, 2] = 3
            t += held + int(rng.integers(0, 3))  # 0: the same key starts again at once
    return piece


def notes_of(state: np.ndarray) -> list[tuple[int, int, int]]:
    """(key, start, length) of every note in ``state``."""
    found = []
    for key in range(state.shape[1]):
        t = 0
        while t < state.shape[0]:
            if state[t, key, 0] and state[t, key, 1]:
                end = t + 1
                while end < state.shape[0] and state[end, key, 0] and not state[end, key, 1]:
                    end += 1
                found.append((key, t, end - t))
                t = end
            else:
                t += 1
    return found


def orphan_holds(state: np.ndarray) -> int:
    """Held steps (play without articulate) that follow a silent step or open the window."""
    held = (state[..., 0] > 0) & (state[..., 1] == 0)
    before = np.concatenate([np.zeros_like(state[:1, :, 0]), state[:-1, :, 0]]) > 0
    return int((held & ~before)[1:].sum())


def test_rate_zero_is_an_unchanged_copy_and_draws_nothing() -> None:
    piece = melody(64)
    rng = np.random.default_rng(3)
    out = corrupt_onsets(piece, 0.0, rng)
    np.testing.assert_array_equal(out, piece)
    assert out is not piece
    assert rng.random() == np.random.default_rng(3).random()


def test_slips_drop_or_move_notes_by_one_step_and_keep_the_notes_whole() -> None:
    piece = melody(64)
    before = notes_of(piece)
    out = corrupt_onsets(piece, 0.3, np.random.default_rng(0))
    after = notes_of(out)
    assert orphan_holds(out) == 0 and orphan_holds(piece) == 0
    assert out[..., 1].sum() <= piece[..., 1].sum()
    assert set(np.unique(out[..., 2])) <= {0, 3}  # velocities travel with their notes
    moved = [n for n in after if n not in before]
    dropped = len(before) - len(after)
    assert moved and dropped > 0
    old = {(key, start) for key, start, _ in before}
    for key, start, _ in moved:  # every changed note starts one step from a true start
        assert (key, start - 1) in old or (key, start + 1) in old or (key, start) in old
    changed = len(moved) + dropped
    assert 0.15 * len(before) < changed < 0.45 * len(before)
    np.testing.assert_array_equal(piece, melody(64))  # the input itself is not touched


def test_training_windows_read_noisy_steps_and_predict_true_ones() -> None:
    rep = NoteState()
    piece = melody(33, seed=1)[..., :2]  # one window: the same start whatever is drawn
    clean = NoteStateBatchMaker([piece], rep, batch_size=4, seq_len=32)
    noisy = NoteStateBatchMaker([piece], rep, batch_size=4, seq_len=32, input_noise=0.2)
    a = clean.training_batch(np.random.default_rng(5))
    b = noisy.training_batch(np.random.default_rng(5))
    assert torch.equal(a["target"], b["target"])
    assert not torch.equal(a["features"], b["features"])
    for left, right in zip(clean.eval_batches(), noisy.eval_batches(), strict=True):
        assert torch.equal(left["features"], right["features"])
    with pytest.raises(DataError, match="input_noise"):
        NoteStateBatchMaker([piece], rep, batch_size=4, seq_len=32, input_noise=1.5)


def test_the_biaxial_config_carries_input_noise_to_its_batches() -> None:
    config = BiaxialConfig(**{**PRESETS["biaxial-debug"].__dict__, "input_noise": 0.05})
    assert get_family("biaxial").batch_maker_options(config)["input_noise"] == 0.05
    with pytest.raises(ConfigError, match="input_noise"):
        BiaxialConfig(input_noise=-0.1)
