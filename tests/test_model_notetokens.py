"""The note/chord token LSTM and its batch maker (the checks every family shares are in
``test_model_families.py``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cadenza.data.batching.notetokens import NoteTokensBatchMaker, supports_transposition
from cadenza.errors import ConfigError, DataError
from cadenza.models.notetokens import (
    HEADS,
    PRESETS,
    NoteTokensLSTMConfig,
    build,
    config_for,
)
from cadenza.representations.base import Representation
from cadenza.representations.notetokens import UNKNOWN_ID, NoteTokens, NoteTokensConfig
from cadenza.score import Score, make_notes

SIZES = {"num_elements": 11, "num_durations": 5, "num_shifts": 7}
DEBUG = replace(PRESETS["notetokens-debug"], **SIZES)


def little_score(steps_per_quarter: int) -> Score:
    """Single notes and three-note chords of a few lengths, quantised."""
    starts, durations, pitches = [], [], []
    tick = 0
    for bar in range(8):
        root = 60 + (bar % 4) * 2
        if bar % 2:
            for pitch in (root, root + 4, root + 7):
                starts.append(tick)
                durations.append(2 * steps_per_quarter)
                pitches.append(pitch)
            tick += 2 * steps_per_quarter
        for offset in (0, 2, 4, 5):
            starts.append(tick)
            durations.append(steps_per_quarter)
            pitches.append(root + offset)
            tick += steps_per_quarter
        tick += steps_per_quarter  # a rest
    count = len(starts)
    notes = make_notes(starts, durations, pitches, np.full(count, 80))
    return Score(notes=notes, ticks_per_quarter=steps_per_quarter, name="little")


def fitted_notetokens() -> tuple[NoteTokens, np.ndarray]:
    rep = NoteTokens(NoteTokensConfig())
    score = little_score(rep.config.steps_per_quarter)
    rep.fit([score])
    return rep, rep.encode(score)


def random_batch(config: NoteTokensLSTMConfig, batch: int = 3, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    sizes = (config.num_elements, config.num_durations, config.num_shifts)
    tokens = torch.stack(
        [torch.randint(0, n, (batch, config.seq_len + 1), generator=gen) for n in sizes], dim=-1
    )  # (B, T + 1, 3)
    return {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]}


# -- config -------------------------------------------------------------------------------


def test_original_preset_keeps_the_original_shape() -> None:
    config = PRESETS["notetokens-lstm"]
    assert (config.hidden_size, config.num_layers, config.dropout) == (512, 3, 0.3)
    assert (config.dense_size, config.seq_len) == (256, 100)
    assert (config.primer_tokens, config.generate_tokens) == (50, 500)
    lstm = build(config).lstm
    assert lstm.num_layers == 3 and lstm.hidden_size == 512


def test_config_for_fills_vocabulary_sizes() -> None:
    rep, _ = fitted_notetokens()
    config = config_for(PRESETS["notetokens-debug"], rep)
    assert config.num_elements == rep.num_elements > 2
    assert config.num_durations == rep.num_durations
    assert config.num_shifts == rep.num_shifts
    model = build(config)
    assert model.element_head.out_features == rep.num_elements
    assert model.shift_embedding.num_embeddings == rep.num_shifts


def test_config_for_needs_a_fitted_representation() -> None:
    with pytest.raises((ConfigError, DataError), match="fit"):
        config_for(PRESETS["notetokens-debug"], NoteTokens(NoteTokensConfig()))


# -- model --------------------------------------------------------------------------------
def test_forward_shapes_and_finite_loss() -> None:
    torch.manual_seed(0)
    model = build(DEBUG)
    batch = random_batch(DEBUG, batch=2)
    logits = model.predict_logits(batch)
    assert logits["element_logits"].shape == (2, DEBUG.seq_len, SIZES["num_elements"])
    assert logits["duration_logits"].shape == (2, DEBUG.seq_len, SIZES["num_durations"])
    assert logits["shift_logits"].shape == (2, DEBUG.seq_len, SIZES["num_shifts"])
    loss, metrics = model.loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(metrics) == {f"{h}_{m}" for h in HEADS for m in ("ce", "acc")}
    assert float(loss.detach()) == pytest.approx(sum(metrics[f"{h}_ce"] for h in HEADS), rel=1e-5)
    # An untrained model is close to uniform: each CE near log(vocabulary size).
    assert metrics["element_ce"] == pytest.approx(np.log(SIZES["num_elements"]), rel=0.2)


def test_step_replay_equals_teacher_forced_logits() -> None:
    torch.manual_seed(0)
    model = build(replace(DEBUG, dropout=0.3)).eval()  # dropout must be off in eval mode
    batch = random_batch(DEBUG, batch=3)
    expected = model.predict_logits(batch)
    state = model.init_state(3)
    assert state[0].shape == (DEBUG.num_layers, 3, DEBUG.hidden_size)
    steps: dict[str, list[torch.Tensor]] = {key: [] for key in expected}
    for t in range(DEBUG.seq_len):
        out, state = model.step(batch["inputs"][:, t], state)
        for key, value in out.items():
            assert value.shape == (3, expected[key].shape[-1])
            steps[key].append(value)
    for key, values in steps.items():
        torch.testing.assert_close(torch.stack(values, dim=1), expected[key])
    out_none, _ = model.step(batch["inputs"][:, 0], None)  # None starts from zeros too
    torch.testing.assert_close(out_none["element_logits"], expected["element_logits"][:, 0])


def test_state_carries_the_history() -> None:
    torch.manual_seed(0)
    model = build(DEBUG).eval()
    batch = random_batch(DEBUG, batch=2)
    _, state = model.step(batch["inputs"][:, 0], model.init_state(2))
    with_history, _ = model.step(batch["inputs"][:, 1], state)
    fresh, _ = model.step(batch["inputs"][:, 1], model.init_state(2))
    assert not torch.allclose(with_history["element_logits"], fresh["element_logits"])


# -- batches ------------------------------------------------------------------------------
def counting_array(length: int, start: int = 0) -> np.ndarray:
    """Hand-built tokens whose element id counts up, so windows are easy to check."""
    index = np.arange(start, start + length)
    return np.stack([index % 50, index % 4, index % 3], axis=1).astype(np.int32)


def test_batch_maker_inputs_and_targets_are_shifted_by_one() -> None:
    rep, _ = fitted_notetokens()
    arrays = [counting_array(30), counting_array(20, start=100), counting_array(6)]
    maker = NoteTokensBatchMaker(arrays, rep, batch_size=5, seq_len=8)
    assert len(maker.arrays) == 2 and maker.min_length == 9
    batch = maker.training_batch(np.random.default_rng(0))
    assert batch["inputs"].shape == (5, 8, 3) and batch["targets"].shape == (5, 8, 3)
    assert batch["inputs"].dtype == torch.long
    assert torch.equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])
    steps = torch.diff(torch.cat([batch["inputs"][:, :1, 0], batch["targets"][..., 0]], 1), 1)
    assert torch.all((steps == 1) | (steps == -49))


def test_eval_batches_are_deterministic_non_overlapping_and_capped() -> None:
    rep, _ = fitted_notetokens()
    arrays = [counting_array(50), counting_array(26, start=200)]
    maker = NoteTokensBatchMaker(arrays, rep, batch_size=2, seq_len=8)
    batches = list(maker.eval_batches())
    again = list(maker.eval_batches())
    assert all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(batches, again, strict=True))
    firsts = torch.cat([b["inputs"][:, 0, 0] for b in batches]).tolist()
    # piece 0 (50 tokens) has windows at 0, 8, ..., 40; piece 1 (26 tokens) at 0, 8, 16
    assert firsts == [0, 8, 16, 24, 32, 40, 200 % 50, 208 % 50, 216 % 50]
    capped = NoteTokensBatchMaker(arrays, rep, batch_size=2, seq_len=8, max_eval_batches=2)
    assert sum(len(b["inputs"]) for b in capped.eval_batches()) == 4


class _Untransposable(Representation):
    """A representation that keeps the base ``transpose_array``: no augmentation."""

    name = "untransposable"
    config_class = NoteTokensConfig

    def encode(self, score: Score) -> np.ndarray:
        raise NotImplementedError

    def decode(self, array: np.ndarray) -> Score:
        raise NotImplementedError

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (3,)


def test_transposition_is_skipped_without_support(caplog: pytest.LogCaptureFixture) -> None:
    rep = _Untransposable()
    assert not supports_transposition(rep) and supports_transposition(fitted_notetokens()[0])
    maker = NoteTokensBatchMaker(
        [counting_array(30)], rep, batch_size=4, seq_len=8, transpose_range=(-3, 3)
    )
    assert not maker.can_transpose and "cannot transpose" in caplog.text
    batch = maker.training_batch(np.random.default_rng(0))
    firsts = batch["inputs"][:, 0, 0]
    assert torch.equal(batch["inputs"][:, :, 0], firsts[:, None] + torch.arange(8))


def test_transposition_goes_through_the_representation() -> None:
    rep, array = fitted_notetokens()
    assert not np.any(array[:, 0] == UNKNOWN_ID)
    maker = NoteTokensBatchMaker([array], rep, batch_size=64, seq_len=8, transpose_range=(-2, 2))
    assert maker.can_transpose
    batch = maker.training_batch(np.random.default_rng(3))
    windows = torch.cat([batch["inputs"], batch["targets"][:, -1:]], dim=1).numpy()
    originals = {array[s : s + 9].tobytes() for s in range(len(array) - 8)}
    changed = [w.astype(array.dtype).tobytes() not in originals for w in windows]
    assert sum(changed) == sum(n for k, n in maker.transpositions.items() if k) > 0
    assert maker.transpositions.total() == 64
    assert not np.any(windows[..., 0] == UNKNOWN_ID)  # no chord was moved out of the vocabulary
    for window in windows:  # durations and shifts are untouched by transposition
        assert any(
            np.array_equal(window[:, 1:], array[s : s + 9, 1:]) for s in range(len(array) - 8)
        )
    for window, moved in zip(windows, changed, strict=True):
        if moved:  # a transposed window is the representation's transposition of an original
            assert any(
                np.array_equal(window, rep.transpose_array(array[s : s + 9], k))
                for s in range(len(array) - 8)
                for k in (-2, -1, 1, 2)
            )
