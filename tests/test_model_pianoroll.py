"""Piano-roll LSTM: presets, costs, per-layer rates, step-wise generation, batches (the checks
every family shares are in ``test_model_families.py``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cadenza.data.batching.pianoroll import PianoRollBatchMaker
from cadenza.errors import DataError
from cadenza.models.pianoroll import (
    PRESETS,
    PianoRollLSTMConfig,
    build,
    config_for,
    frame_nll,
)
from cadenza.representations.pianoroll import PianoRoll, PianoRollConfig

K = 88


def random_roll_batch(rng: np.random.Generator, b: int = 3, t: int = 12) -> dict[str, torch.Tensor]:
    roll = torch.from_numpy((rng.random((b, t + 1, K)) < 0.08).astype(np.float32))
    return {"inputs": roll[:, :-1].contiguous(), "targets": roll[:, 1:].contiguous()}


# -- config ----------------------------------------------------------------------------
def test_presets_build_and_report_sizes() -> None:
    sizes = {name: build(cfg).num_parameters() for name, cfg in PRESETS.items()}
    assert set(sizes) == {"pianoroll-rnn4music", "pianoroll-small", "pianoroll-debug"}

    def lstm(i: int, h: int) -> int:
        return 4 * h * (i + h) + 8 * h

    expected = lstm(88, 120) + 2 * lstm(120, 120) + 120 * 88 + 88
    assert sizes["pianoroll-rnn4music"] == expected
    assert sizes["pianoroll-debug"] < sizes["pianoroll-small"] < expected
    cfg = PRESETS["pianoroll-rnn4music"]
    assert cfg.layer_lrs == (0.001,) * 4
    assert (cfg.grad_clip, cfg.init_std, cfg.init_state_max, cfg.eps) == (30.0, 0.1, 0.01, 1e-5)


# -- initialisation and learning rates -------------------------------------------------
def test_gaussian_init_and_fixed_initial_state() -> None:
    torch.manual_seed(0)
    model = build(PRESETS["pianoroll-rnn4music"])
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float(weights.std()) == pytest.approx(0.1, rel=0.02)
    assert abs(float(weights.mean())) < 0.005
    state = model.init_state(5)
    assert len(state) == 3
    for h, c in state:
        assert h.shape == c.shape == (1, 5, 120)
        assert float(h.min()) >= 0 and float(h.max()) <= 0.01 and float(h.std()) > 0
        torch.testing.assert_close(h[0, 0], h[0, 4])  # one drawn state for every sequence
    names = {name for name, _ in model.named_parameters()}
    buffers = dict(model.named_buffers())
    assert {"initial_h0", "initial_c2"} <= set(buffers) and not names & set(buffers)
    assert "initial_h1" in model.state_dict()
    again = model.init_state(5)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(state, again, strict=True))


def test_param_groups_give_each_layer_its_rate() -> None:
    cfg = PianoRollLSTMConfig(hidden_sizes=(8, 8), layer_lrs=(0.1, 0.2, 0.3))
    model = build(cfg)
    groups = model.param_groups(base_lr=9.0)
    assert [g["name"] for g in groups] == ["lstm0", "lstm1", "output"]
    assert [g["lr"] for g in groups] == [0.1, 0.2, 0.3]
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each once
    assert {id(p) for p in groups[2]["params"]} == {id(p) for p in model.output.parameters()}
    optimizer = torch.optim.SGD(groups)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.2, 0.3]
    plain = build(PianoRollLSTMConfig(hidden_sizes=(8, 8))).param_groups(base_lr=0.05)
    assert [g["lr"] for g in plain] == [0.05, 0.05, 0.05]


# -- costs -----------------------------------------------------------------------------
def test_xent_loss_equals_summed_bce_per_frame() -> None:
    torch.manual_seed(0)
    model = build(PRESETS["pianoroll-debug"])
    batch = random_roll_batch(np.random.default_rng(0))
    loss, metrics = model.loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    probs = model.predict_probs(batch)
    assert probs.shape == (3, 12, K)
    reference = torch.nn.functional.binary_cross_entropy(
        probs.double(), batch["targets"].double(), reduction="sum"
    ) / (3 * 12)
    assert float(loss.detach()) == pytest.approx(float(reference), rel=1e-5)
    assert metrics["nll_per_step"] == pytest.approx(float(loss.detach()), rel=1e-6)
    assert metrics["xent"] == pytest.approx(float(loss.detach()), rel=1e-6)


def test_mse_cost_and_clamped_nll() -> None:
    torch.manual_seed(0)
    model = build(PianoRollLSTMConfig(hidden_sizes=(8,), cost="mse"))
    batch = random_roll_batch(np.random.default_rng(1))
    loss, metrics = model.loss(batch)
    probs = model.predict_probs(batch)
    expected = 0.5 * (probs - batch["targets"]).pow(2).sum(-1).mean()
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert metrics["nll_per_step"] > float(loss.detach())
    # The eps clamp keeps the NLL finite for certain wrong predictions.
    certain = torch.tensor([[1.0, 0.0]])
    wrong = torch.tensor([[0.0, 1.0]])
    assert float(frame_nll(certain, wrong, 1e-5)) == pytest.approx(-2 * np.log(1e-5), rel=1e-3)


def test_loss_rejects_bad_shapes() -> None:
    model = build(PRESETS["pianoroll-debug"])
    with pytest.raises(DataError, match=r"\(2, 5, 80\)"):
        model.loss({"inputs": torch.zeros(2, 5, 80), "targets": torch.zeros(2, 5, 80)})


# -- generation ------------------------------------------------------------------------
def test_step_replay_matches_teacher_forced_probabilities() -> None:
    torch.manual_seed(0)
    model = build(PianoRollLSTMConfig(hidden_sizes=(12, 10, 8), dropout=0.3)).eval()
    batch = random_roll_batch(np.random.default_rng(3), b=2, t=10)
    expected = model.predict_probs(batch)
    state = model.init_state(2)
    for t in range(10):
        out, state = model.step(batch["inputs"][:, t], state)
        assert out["probs"].shape == (2, K)
        torch.testing.assert_close(out["probs"], expected[:, t], atol=1e-6, rtol=1e-5)
    with pytest.raises(DataError, match=r"\(2, 87\)"):
        model.step(torch.zeros(2, 87), model.init_state(2))


def test_flops_scale_with_sequence_length() -> None:
    model = build(PRESETS["pianoroll-debug"])
    rng = np.random.default_rng(4)
    short = model.flops_per_batch(random_roll_batch(rng, b=2, t=5))
    long = model.flops_per_batch(random_roll_batch(rng, b=2, t=10))
    assert short > 0 and long == pytest.approx(2 * short)


# -- batches ---------------------------------------------------------------------------
def counting_roll(length: int) -> np.ndarray:
    """A (length, 88) roll whose frame t holds the binary digits of t in keys 0..9."""
    t = np.arange(length)[:, None]
    roll = np.zeros((length, K), dtype=np.uint8)
    roll[:, :10] = (t >> np.arange(10)) & 1
    return roll


def frame_index(frame: np.ndarray, shift: int = 0) -> int:
    return int(sum(int(frame[shift + i]) << i for i in range(10)))


def test_batch_maker_windows_follow_the_pieces() -> None:
    rep = PianoRoll()
    maker = PianoRollBatchMaker(
        [counting_roll(50), counting_roll(17), counting_roll(10)],
        rep,
        6,
        16,
    )
    assert len(maker.arrays) == 2  # the 10-frame piece is too short for 17 frames
    batch = maker.training_batch(np.random.default_rng(0))
    assert batch["inputs"].shape == batch["targets"].shape == (6, 16, K)
    assert batch["inputs"].dtype == torch.float32
    for inputs, targets in zip(batch["inputs"].numpy(), batch["targets"].numpy(), strict=True):
        start = frame_index(inputs[0])
        assert [frame_index(f) for f in inputs] == list(range(start, start + 16))
        assert [frame_index(f) for f in targets] == list(range(start + 1, start + 17))


def test_batch_maker_transposes_and_evaluates_deterministically() -> None:
    rep = PianoRoll()
    maker = PianoRollBatchMaker(
        [counting_roll(40), counting_roll(30)],
        rep,
        2,
        9,
        transpose_range=(3, 3),
    )
    batch = maker.training_batch(np.random.default_rng(1))
    inputs = batch["inputs"].numpy()
    assert inputs[:, :, :3].sum() == 0  # up 3 keys: the count now sits in keys 3..12
    for frames in inputs:
        start = frame_index(frames[0], shift=3)
        assert [frame_index(f, shift=3) for f in frames] == list(range(start, start + 9))
    evaluated = list(maker.eval_batches())
    firsts = [frame_index(f) for b in evaluated for f in b["inputs"][:, 0].numpy()]
    assert firsts == [0, 9, 18, 27, 0, 9, 18]  # not transposed, consecutive, piece by piece
    assert [len(b["inputs"]) for b in evaluated] == [2, 2, 2, 1]
    again = list(maker.eval_batches())
    assert all(
        torch.equal(a["targets"], b["targets"]) for a, b in zip(evaluated, again, strict=True)
    )
    capped = PianoRollBatchMaker(
        [counting_roll(40)],
        rep,
        1,
        9,
        max_eval_batches=3,
    )
    assert len(list(capped.eval_batches())) == 3
    with pytest.raises(DataError, match="long enough"):
        PianoRollBatchMaker([counting_roll(5)], rep, 1, 9)


def test_config_for_follows_the_representation_range() -> None:
    rep = PianoRoll(PianoRollConfig(low=48, high=95))  # 48 keys
    config = config_for(PRESETS["pianoroll-debug"], rep)
    assert config.num_keys == 48
    model = build(config).eval()
    out, _ = model.step(torch.zeros(2, 48), model.init_state(2))
    assert out["probs"].shape == (2, 48)


def test_a_confident_model_has_a_finite_loss_under_bf16_autocast() -> None:
    """Under bfloat16, 1 - eps rounds to 1: a key predicted with certainty made the clamped
    probability 1, log1p(-1) = -inf and the training loss NaN (seen after 25,892 steps of
    pianoroll-small on piano music). The cost is computed in float32."""
    from cadenza.training import native_bf16

    if not native_bf16(torch.device("cpu")):  # oneDNN has no bfloat16 LSTM here at all
        pytest.skip("this CPU has no native bfloat16 (AVX512-BF16 or AMX)")
    model = build(PianoRollLSTMConfig(hidden_sizes=(8,)))
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(30.0)  # every key certain to sound
    frames = torch.ones(2, 5, K)
    frames[:, :, :10] = 0  # ... but ten keys are silent
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, metrics = model.loss({"inputs": frames, "targets": frames})
    assert torch.isfinite(loss) and math.isfinite(metrics["nll_per_step"])
    assert loss.dtype == torch.float32
