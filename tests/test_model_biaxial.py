"""Biaxial LSTM: presets, teacher-forced loss, step-wise generation, batches (the checks every
family shares are in ``test_model_families.py``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cadenza.data.batching.notestate import NoteStateBatchMaker
from cadenza.errors import CheckpointError, ConfigError, DataError
from cadenza.models.biaxial import (
    PRESETS,
    BiaxialConfig,
    BiaxialLSTM,
    bernoulli_notes,
    build,
    config_for,
)
from cadenza.models.biaxialwalk import torch_sampler
from cadenza.models.chordcontext import ChordWalk, chord_counts
from cadenza.models.notewalk import NoteRule
from cadenza.representations.notestate import NUM_FEATURES, NoteState, NoteStateConfig

N = 78


def random_state(rng: np.random.Generator, b: int, t: int, density: float = 0.1) -> np.ndarray:
    """A random note-state sequence (b, t, N, 2) with articulate only where played."""
    play = rng.random((b, t, N)) < density
    artic = play & (rng.random((b, t, N)) < 0.5)
    return np.stack([play, artic], -1).astype(np.uint8)


def make_batch(rng: np.random.Generator, b: int = 2, t: int = 12) -> dict[str, torch.Tensor]:
    rep = NoteState()
    state = random_state(rng, b, t + 1)
    features = np.stack([rep.input_features(s[:-1]) for s in state])
    return {
        "features": torch.from_numpy(np.asarray(features, dtype=np.float32)),
        "target": torch.from_numpy(state[:, 1:].astype(np.float32)),
    }


# -- config ----------------------------------------------------------------------------
def test_presets_build_and_report_sizes() -> None:
    sizes = {name: build(cfg).num_parameters() for name, cfg in PRESETS.items()}
    assert set(sizes) == {"biaxial-paper", "biaxial-small", "biaxial-debug"}
    assert sizes["biaxial-debug"] < sizes["biaxial-small"] < sizes["biaxial-paper"]

    # Johnson's sizes: LSTM(80->300), LSTM(300->300), LSTM(302->100), LSTM(100->50), 50->2.
    def lstm(i: int, h: int) -> int:
        return 4 * h * (i + h) + 8 * h

    expected = lstm(80, 300) + lstm(300, 300) + lstm(302, 100) + lstm(100, 50) + 50 * 2 + 2
    assert sizes["biaxial-paper"] == expected
    paper = PRESETS["biaxial-paper"]
    assert (paper.batch_size, paper.seq_len, paper.segment_step) == (10, 128, 16)
    assert paper.dropout == 0.5


# -- teacher-forced loss ---------------------------------------------------------------
def test_loss_shapes_and_metrics() -> None:
    torch.manual_seed(0)
    model = build(PRESETS["biaxial-debug"])
    batch = make_batch(np.random.default_rng(0), b=3, t=10)
    assert batch["features"].shape == (3, 10, N, NUM_FEATURES)
    loss, metrics = model.loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(metrics) == {"play_bce", "artic_bce", "nll_per_step"}
    assert metrics["play_bce"] + metrics["artic_bce"] == pytest.approx(
        float(loss.detach()), rel=1e-5
    )
    assert metrics["nll_per_step"] == pytest.approx(float(loss.detach()) * N, rel=1e-5)
    probs = model.predict_probs(batch)
    assert probs.shape == (3, 10, N, 2)
    assert bool(((probs > 0) & (probs < 1)).all())


def test_loss_is_the_masked_negative_log_likelihood() -> None:
    """Loss terms equal -log-likelihoods computed from the probabilities, with the
    articulate term counted only where the target note plays."""
    torch.manual_seed(0)
    model = build(PRESETS["biaxial-debug"]).eval()
    batch = make_batch(np.random.default_rng(1), b=2, t=6)
    _, metrics = model.loss(batch)
    probs = model.predict_probs(batch).double()
    target = batch["target"].double()
    play_ll = target[..., 0] * probs[..., 0].log() + (1 - target[..., 0]) * (-probs[..., 0]).log1p()
    artic_ll = (
        target[..., 1] * probs[..., 1].log() + (1 - target[..., 1]) * (-probs[..., 1]).log1p()
    )
    played = target[..., 0] == 1
    cells = target[..., 0].numel()
    assert metrics["play_bce"] == pytest.approx(float(-play_ll.sum()) / cells, rel=1e-5)
    assert metrics["artic_bce"] == pytest.approx(float(-artic_ll[played].sum()) / cells, rel=1e-5)
    assert 0 < played.sum() < cells


def reference_logits(model: BiaxialLSTM, features: torch.Tensor, target: torch.Tensor
                     ) -> torch.Tensor:
    """Teacher-forced logits the plain way: each axis' sequences stacked batch-first and
    contiguous, dropout as ``x * mask / (1 - p)`` with masks drawn in the model's order."""

    def dropout(x: torch.Tensor) -> torch.Tensor:
        p = model.config.dropout
        if not model.training or p == 0.0:
            return x
        keep = torch.full((x.shape[0], 1, x.shape[2]), 1.0 - p)
        return x * torch.bernoulli(keep) / (1.0 - p)

    b, t, n, f = features.shape
    x = features.permute(0, 2, 1, 3).reshape(b * n, t, f).contiguous()  # (B*N, T, F)
    for lstm in model.time_layers:
        x = dropout(lstm(x)[0])
    time_out = x.reshape(b, n, t, -1).permute(0, 2, 1, 3)  # (B, T, N, Ht)
    lower = torch.nn.functional.pad(target[:, :, :-1, :2], (0, 0, 1, 0))
    parts = [time_out, lower]
    if model.config.chord_inputs:
        parts.append(chord_counts(target[..., 0]))
    x = torch.cat(parts, dim=-1).reshape(b * t, n, -1).contiguous()  # (B*T, N, F)
    for lstm in model.note_layers:
        x = dropout(lstm(x)[0])
    return model.output(x).reshape(b, t, n, 2)


@pytest.mark.parametrize("chord", [False, True])
def test_training_logits_and_gradients_match_the_plain_reference(chord: bool) -> None:
    """The stacks' memory layouts (step-major for oneDNN), the one-pass dropout and the first
    time layer through PyTorch's own LSTM in training (no gradient for the input features)
    change nothing but float32 rounding: same masks, same logits and gradients as the plain
    batch-first computation through oneDNN, which is left switched on."""
    config = replace(PRESETS["biaxial-debug"], time_sizes=(12, 10), note_sizes=(8, 6),
                     dropout=0.5, chord_inputs=chord)
    torch.manual_seed(0)
    model = build(config).train()
    batch = make_batch(np.random.default_rng(3), b=3, t=7)
    outputs = []
    for compute in (model.logits, lambda f, t: reference_logits(model, f, t)):
        model.zero_grad()
        torch.manual_seed(1)
        logits = compute(batch["features"], batch["target"])
        (logits * torch.linspace(-1, 1, logits.numel()).reshape(logits.shape)).sum().backward()
        outputs.append([logits.detach()] + [p.grad.clone() for p in model.parameters()])
        assert torch.backends.mkldnn.enabled
    for new, ref in zip(*outputs, strict=True):
        torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chord", [False, True])
def test_note_axis_is_causal_up_the_keyboard(chord: bool) -> None:
    """A note's prediction sees only lower notes' actual values, never its own or higher."""
    torch.manual_seed(0)
    model = build(BiaxialConfig(time_sizes=(8,), note_sizes=(6, 5), dropout=0.0,
                                chord_inputs=chord)).eval()
    batch = make_batch(np.random.default_rng(3), b=1, t=4)
    base = model.logits(batch["features"], batch["target"])
    flipped = batch["target"].clone()
    flipped[:, :, 40] = 1.0 - flipped[:, :, 40]
    flipped[:, :, 40, 1] *= flipped[:, :, 40, 0]
    other = model.logits(batch["features"], flipped)
    assert torch.equal(base[:, :, :41], other[:, :, :41])
    assert not torch.allclose(base[:, :, 41], other[:, :, 41])


def test_time_axis_is_shift_equivariant_along_notes() -> None:
    """Time-axis weights are shared across notes and notes do not interact on that axis, so
    moving every note's features up k notes moves the time-axis outputs up k notes."""
    torch.manual_seed(0)
    model = build(BiaxialConfig(time_sizes=(8, 8), note_sizes=(4,), dropout=0.0)).eval()
    features = make_batch(np.random.default_rng(4), b=2, t=5)["features"]
    k = 7
    with torch.no_grad():
        out = model.time_forward(features)
        shifted = model.time_forward(torch.roll(features, k, dims=2))
    torch.testing.assert_close(shifted, torch.roll(out, k, dims=2))
    # A note's output depends only on its own features: change note 10, only note 10 moves.
    changed = features.clone()
    changed[:, :, 10] += 1.0
    with torch.no_grad():
        moved = model.time_forward(changed)
    diff = (moved - out).abs().amax(dim=(0, 1, 3))
    assert diff[10] > 0 and float(diff.sum() - diff[10]) == 0.0


# -- generation ------------------------------------------------------------------------
@pytest.mark.parametrize("chord", [False, True])
def test_step_replay_matches_teacher_forced_probabilities(chord: bool) -> None:
    torch.manual_seed(0)
    model = build(BiaxialConfig(time_sizes=(12, 10), note_sizes=(8, 6), dropout=0.5,
                                chord_inputs=chord)).eval()
    b, t = 2, 9
    batch = make_batch(np.random.default_rng(5), b=b, t=t)
    expected = model.predict_probs(batch)  # (B, T, N, 2)
    state = model.init_state(b)
    for step in range(t):
        truth = batch["target"][:, step]  # (B, N, 2)

        def replay(probs: torch.Tensor, note: int, truth: torch.Tensor = truth) -> torch.Tensor:
            return truth[:, note]

        out, state = model.step(batch["features"][:, step], state, sample=replay)
        assert out["probs"].shape == (b, N, 2)
        torch.testing.assert_close(out["probs"], expected[:, step], atol=1e-5, rtol=1e-4)
        assert torch.equal(out["notes"], truth)


@pytest.mark.parametrize(("note_sizes", "chord"),
                         [((8, 6), False), ((7,), False), ((9, 5, 4), False), ((8, 6), True),
                          ((7,), True)])
def test_numpy_walk_matches_teacher_forced_probabilities(
    note_sizes: tuple[int, ...], chord: bool
) -> None:
    torch.manual_seed(1)
    model = build(BiaxialConfig(time_sizes=(12, 10), note_sizes=note_sizes,
                                chord_inputs=chord)).eval()
    b, t = 3, 7
    batch = make_batch(np.random.default_rng(8), b=b, t=t)
    expected = model.predict_probs(batch)
    state = model.init_state(b)
    for step in range(t):
        truth = batch["target"][:, step]
        rule = NoteRule.teacher(truth.numpy())
        out, state = model.step(batch["features"][:, step], state, rule=rule)
        torch.testing.assert_close(out["probs"], expected[:, step], atol=1e-5, rtol=1e-4)
        assert torch.equal(out["notes"], truth)


def test_a_forced_step_without_probabilities_keeps_the_notes_and_the_state() -> None:
    """A primer walked for its state skips the note walk: same notes, same time-axis state
    (hence the same piece afterwards), the probabilities NaN; only a forced rule may."""
    torch.manual_seed(2)
    model = build(BiaxialConfig(time_sizes=(12, 10), note_sizes=(8, 6),
                                velocity_bins=4)).eval()
    b, t = 2, 5
    batch = make_batch(np.random.default_rng(3), b=b, t=t)
    walked, skipped = model.init_state(b), model.init_state(b)
    for step in range(t):
        truth = batch["target"][:, step].numpy()
        full, walked = model.step(batch["features"][:, step], walked,
                                  rule=NoteRule.teacher(truth))
        quick, skipped = model.step(batch["features"][:, step], skipped,
                                    rule=NoteRule.teacher(truth, probabilities=False))
        assert torch.equal(quick["notes"], full["notes"])
        assert torch.equal(quick["velocity_probs"], full["velocity_probs"])
        assert torch.isnan(quick["probs"]).all()
        for (h1, c1), (h2, c2) in zip(walked, skipped, strict=True):
            assert torch.equal(h1, h2) and torch.equal(c1, c2)
    with pytest.raises(ConfigError, match="only a forced"):
        NoteRule(thresholds=np.zeros((N, 1, 2), np.float32), probabilities=False)


def test_note_rule_thresholds_temperature_and_release() -> None:
    probs = np.array([[0.25, 0.9], [0.81, 0.2], [0.5, 0.5]], dtype=np.float32)  # B = 3
    uniforms = np.array([[[0.2, 0.5], [0.5, 0.5], [0.6, 0.1]]], dtype=np.float32)  # N = 1
    plain = NoteRule.bernoulli(uniforms)
    # play when U < p, articulate when played and U' < P(articulate)
    assert plain.choose(probs, 0).tolist() == [[True, True], [True, False], [False, False]]
    # conservativity 0.5: U < p ** 0.5 (0.6 < 0.5 ** 0.5 = 0.707 now plays)
    loose = NoteRule.bernoulli(uniforms, np.array([1.0, 1.0, 0.5]))
    assert loose.choose(probs, 0).tolist()[2] == [True, True]
    # a note held too long must be struck again or it is released
    allowed = np.array([[False], [False], [True]])
    held = NoteRule.bernoulli(uniforms, 1.0, allowed)
    assert held.choose(probs, 0).tolist() == [[True, True], [False, False], [False, False]]
    with pytest.raises(ConfigError):
        NoteRule.bernoulli(uniforms, 0.0)
    with pytest.raises(ConfigError):
        NoteRule(thresholds=uniforms, temperature=0.0)


@pytest.mark.parametrize("chord", [False, True])
def test_numpy_and_torch_walks_agree_with_temperature_and_rules(chord: bool) -> None:
    torch.manual_seed(2)
    model = build(BiaxialConfig(time_sizes=(12,), note_sizes=(8, 6), chord_inputs=chord)).eval()
    b = 4
    features = make_batch(np.random.default_rng(9), b=b, t=1)["features"][:, 0]
    rng = np.random.default_rng(3)
    allowed = rng.random((b, N)) < 0.7
    rule = NoteRule.bernoulli(rng.random((N, b, 2)), rng.uniform(0.3, 1.0, b), allowed, 0.7)
    fast, _ = model.step(features, model.init_state(b), rule=rule)
    plain, _ = model.step(features, model.init_state(b), rule=NoteRule.teacher(
        fast["notes"].numpy()))
    with torch.no_grad():
        slow = model.walk_notes(  # the PyTorch walk, as used off the CPU
            model.time_forward(features[:, None])[:, 0], torch_sampler(rule), 0.7
        )
    torch.testing.assert_close(fast["probs"], slow[0], atol=1e-5, rtol=1e-4)
    assert torch.equal(fast["notes"], slow[1])
    # temperature 0.7 sharpens: logit(p') = logit(p) / 0.7
    logit = torch.logit
    torch.testing.assert_close(logit(fast["probs"]), logit(plain["probs"]) / 0.7,
                               atol=2e-4, rtol=1e-3)


def test_step_default_sampler_gives_valid_notes() -> None:
    torch.manual_seed(0)
    model = build(PRESETS["biaxial-debug"]).eval()
    features = make_batch(np.random.default_rng(6), b=3, t=1)["features"][:, 0]
    gen = torch.Generator().manual_seed(1)
    out, state = model.step(features, model.init_state(3), generator=gen, conservativity=0.5)
    notes = out["notes"]
    assert notes.shape == (3, N, 2)
    assert set(notes.unique().tolist()) <= {0.0, 1.0}
    assert bool((notes[..., 1] <= notes[..., 0]).all())
    assert len(state) == len(PRESETS["biaxial-debug"].time_sizes)
    with pytest.raises(DataError, match="B \\* N"):
        model.step(features[:2], model.init_state(3))
    with pytest.raises(TypeError, match="temperature"):
        model.step(features, model.init_state(3), temperature=1.0)


def test_bernoulli_notes_follows_probabilities_and_conservativity() -> None:
    gen = torch.Generator().manual_seed(0)
    certain = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    out = bernoulli_notes(certain, generator=gen)
    assert out.tolist() == [[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]
    probs = torch.full((20000, 2), 0.25)
    plain = bernoulli_notes(probs, 1.0, gen)[:, 0].mean()
    loose = bernoulli_notes(probs, 0.5, gen)[:, 0].mean()  # 0.25 ** 0.5 = 0.5
    assert float(plain) == pytest.approx(0.25, abs=0.02)
    assert float(loose) == pytest.approx(0.5, abs=0.02)


# -- batches ---------------------------------------------------------------------------
def counting_piece(length: int) -> np.ndarray:
    """A (length, N, 2) piece whose step t plays the binary digits of t on notes 0..9."""
    piece = np.zeros((length, N, 2), dtype=np.uint8)
    for t in range(length):
        bits = [(t >> i) & 1 for i in range(10)]
        piece[t, :10, 0] = bits
        piece[t, :10, 1] = bits
    return piece


def step_index(frame: np.ndarray, shift: int = 0) -> int:
    return int(sum(int(frame[shift + i, 0]) << i for i in range(10)))


def test_batch_maker_windows_are_bar_aligned_and_match_features() -> None:
    rep = NoteState()
    pieces = [counting_piece(100), counting_piece(37)]
    maker = NoteStateBatchMaker(pieces, rep, batch_size=8, seq_len=32)
    assert len(maker.arrays) == 2
    batch = maker.training_batch(np.random.default_rng(0))
    assert batch["features"].shape == (8, 32, N, NUM_FEATURES)
    assert batch["target"].shape == (8, 32, N, 2)
    assert batch["features"].dtype == torch.float32 and batch["target"].dtype == torch.float32
    assert torch.equal(batch["mask"], torch.ones(8, 32))
    for features, target in zip(batch["features"].numpy(), batch["target"].numpy(), strict=True):
        start = step_index(target[0]) - 1
        assert start % 16 == 0
        assert [step_index(row) for row in target] == list(range(start + 1, start + 33))
        window = counting_piece(100)[start : start + 33]
        np.testing.assert_array_equal(features, rep.input_features(window[:-1], first_step=start))


def test_short_pieces_are_padded_and_masked_out_of_the_loss() -> None:
    """A piece shorter than a window is kept: padded with silence, its padding masked, and
    its loss the same as that of a window cut to its own length."""
    rep = NoteState()
    short = counting_piece(20)  # 19 predicted steps in a 32-step window
    maker = NoteStateBatchMaker([short], rep, batch_size=2, seq_len=32)
    assert len(maker.arrays) == 1
    batch = maker.training_batch(np.random.default_rng(0))
    assert batch["mask"][0].tolist() == [1.0] * 19 + [0.0] * 13
    assert [step_index(row) for row in batch["target"][0, :19].numpy()] == list(range(1, 20))
    assert not batch["target"][0, 19:].any()
    (valid,) = list(maker.eval_batches())
    assert valid["mask"].shape == (1, 32) and valid["mask"].sum() == 19
    torch.manual_seed(0)
    model = build(replace(PRESETS["biaxial-debug"], seq_len=32)).eval()
    exact = NoteStateBatchMaker([short], rep, batch_size=1, seq_len=19)
    (cut,) = list(exact.eval_batches())
    with torch.no_grad():
        padded_loss, padded = model.loss(valid)
        cut_loss, whole = model.loss(cut)
    assert padded_loss.item() == pytest.approx(cut_loss.item(), rel=1e-5)
    assert padded["nll_per_step"] == pytest.approx(whole["nll_per_step"], rel=1e-5)
    assert model.summed_cost_terms(valid) == model.summed_cost_terms(cut) == 19 * N


def test_batch_maker_transposes_training_windows_only() -> None:
    rep = NoteState()
    maker = NoteStateBatchMaker(
        [counting_piece(64)],
        rep,
        batch_size=3,
        seq_len=16,
        transpose_range=(5, 5),
    )
    batch = maker.training_batch(np.random.default_rng(1))
    target = batch["target"].numpy()
    assert target[:, :, :5].sum() == 0
    start = step_index(target[0, 0], shift=5) - 1
    assert start % 16 == 0
    for sample_eval in maker.eval_batches():
        assert step_index(sample_eval["target"][0, 0].numpy()) == 1  # not transposed


def test_eval_batches_are_deterministic_consecutive_and_capped() -> None:
    rep = NoteState()
    maker = NoteStateBatchMaker(
        [counting_piece(70), counting_piece(50)],
        rep,
        batch_size=2,
        seq_len=16,
    )
    batches = list(maker.eval_batches())
    starts = [step_index(t[0]) - 1 for batch in batches for t in batch["target"].numpy()]
    # Piece 1 (70 steps): starts 0, 16, 32, 48; piece 2 (50 steps): starts 0, 16, 32.
    assert starts == [0, 16, 32, 48, 0, 16, 32]
    again = list(maker.eval_batches())
    assert all(
        torch.equal(a["features"], b["features"]) for a, b in zip(batches, again, strict=True)
    )
    capped = NoteStateBatchMaker(
        [counting_piece(70), counting_piece(50)],
        rep,
        2,
        16,
        max_eval_batches=2,
    )
    assert len(list(capped.eval_batches())) == 2


def test_config_for_follows_the_representation_range() -> None:
    rep = NoteState(NoteStateConfig(low=36, high=83))  # 48 notes
    config = config_for(PRESETS["biaxial-debug"], rep)
    assert config.num_notes == 48
    model = build(config).eval()
    state = np.zeros((1, 2, 48, 2), dtype=np.uint8)
    features = torch.from_numpy(rep.input_features(state[:, :1]))[:, 0]  # (1, 48, 80)
    out, _ = model.step(features, model.init_state(1))
    assert out["probs"].shape == (1, 48, 2)


def test_chord_counts_are_the_notes_below_by_interval_class() -> None:
    play = torch.zeros(2, N)
    play[0, [10, 14, 17, 22]] = 1.0  # a chord of 4 notes, root at 10
    counts = chord_counts(play)  # (2, N, 12)
    assert counts.shape == (2, N, 12)
    assert float(counts[1].sum()) == 0.0
    # note 21 sees 10 (11 below), 14 (7 below) and 17 (4 below); 22 is above it
    assert {k: int(v) for k, v in enumerate(counts[0, 21]) if v} == {11: 1, 7: 1, 4: 1}
    # note 34 sees 10 and 22 both 12 or 24 below (class 0), 14 (8), 17 (5)
    assert {k: int(v) for k, v in enumerate(counts[0, 34]) if v} == {0: 2, 8: 1, 5: 1}
    assert float(counts[0, 10].sum()) == 0.0  # nothing below the lowest chosen note
    walk = ChordWalk(2)
    out = np.zeros((2, 12), np.float32)
    for note in range(N):  # the incremental path gives the same numbers
        walk.inputs(note, out)
        np.testing.assert_array_equal(out, counts[:, note].numpy())
        walk.add(note, play[:, note].numpy())


def test_init_from_an_older_model_adds_silent_chord_inputs() -> None:
    """Chord inputs added to a trained model start at zero weight: the model predicts what
    it predicted before, and training can then learn to use them."""
    torch.manual_seed(0)
    old = build(BiaxialConfig(time_sizes=(8,), note_sizes=(6,), dropout=0.0)).eval()
    new = build(BiaxialConfig(time_sizes=(8,), note_sizes=(6,), dropout=0.0,
                              chord_inputs=True)).eval()
    grown = new.adapt_weights(old.config.to_dict(), old.state_dict())
    new.load_state_dict(grown)
    batch = make_batch(np.random.default_rng(2), b=2, t=3)
    torch.testing.assert_close(new.predict_probs(batch), old.predict_probs(batch))
    with pytest.raises(CheckpointError, match="chord_inputs"):
        old.adapt_weights(new.config.to_dict(), new.state_dict())
