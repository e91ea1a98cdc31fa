"""Dynamics: velocities carried by the note state, predicted by the biaxial model, composed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cadenza.generation import GenerationConfig, generate
from cadenza.models.biaxial import BiaxialConfig, BiaxialLSTM, build, config_for
from cadenza.representations import NoteState, NoteStateConfig
from cadenza.score import Score, TimeSignature, make_notes


def _score(velocities: list[int]) -> Score:
    n = len(velocities)
    return Score(make_notes(np.arange(n) * 4, np.full(n, 4), 60 + np.arange(n) % 12,
                            np.array(velocities)), 4, time_signatures=(TimeSignature(0, 4, 4),))


def test_velocities_round_trip_through_their_bins() -> None:
    rep = NoteState(NoteStateConfig(velocity_bins=8))
    velocities = [1, 15, 16, 17, 64, 100, 126, 127]
    array = rep.encode(_score(velocities))
    assert array.shape[-1] == 3 and rep.feature_shape == (78, 3)
    bins = array[np.arange(8) * 4, 36 + np.arange(8), 2]
    # 8 bins of 127 velocities: 1-16, 17-32, 33-48, 49-64, 65-80, 81-96, 97-112, 113-127
    assert bins.tolist() == [1, 1, 1, 2, 4, 7, 8, 8]
    decoded = rep.decode(array)  # the middle of each bin
    assert decoded.notes["velocity"].tolist() == [8, 8, 8, 24, 56, 104, 120, 120]
    again = rep.encode(decoded)
    np.testing.assert_array_equal(again, array)
    plain = NoteState().encode(_score(velocities))
    np.testing.assert_array_equal(plain, array[..., :2])  # play and articulate unchanged


def test_the_velocity_loss_is_the_cross_entropy_of_started_notes() -> None:
    """With the velocity layer at zero every bin has probability 1/8: ln 8 per note."""
    rep = NoteState(NoteStateConfig(velocity_bins=8))
    torch.manual_seed(0)
    model = build(config_for(BiaxialConfig(time_sizes=(8,), note_sizes=(6,), dropout=0.0),
                             rep))
    assert model.velocity is not None
    with torch.no_grad():
        model.velocity.weight.zero_()
        model.velocity.bias.zero_()
    array = rep.encode(_score([30, 60, 90, 120] * 4))
    window = array[:17]
    batch = {"features": torch.from_numpy(rep.input_features(window[:-1]))[None],
             "target": torch.from_numpy(window[1:].astype(np.float32))[None]}
    _, metrics = model.loss(batch)
    assert metrics["velocity_ce"] == pytest.approx(math.log(8), rel=1e-5)
    plain = build(BiaxialConfig(time_sizes=(8,), note_sizes=(6,), dropout=0.0))
    _, plain_metrics = plain.loss({"features": batch["features"],
                                   "target": batch["target"][..., :2]})
    assert "velocity_ce" not in plain_metrics


def test_generated_notes_take_the_models_velocity() -> None:
    rep = NoteState(NoteStateConfig(velocity_bins=8))
    torch.manual_seed(0)
    model = build(config_for(BiaxialConfig(time_sizes=(8,), note_sizes=(6,), dropout=0.0),
                             rep)).eval()
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(torch.tensor([0.0, 6.0]))  # half the notes play, struck
        assert model.velocity is not None
        model.velocity.weight.zero_()
        model.velocity.bias.copy_(torch.tensor([0.0] * 6 + [30.0, 0.0]))  # bin 7
    result = generate(model, rep, None, GenerationConfig(length=16, seed=0))
    whole = result.arrays[0]
    generated = whole[1:]
    before = whole[:-1, :, 0] > 0
    started = (generated[..., 0] > 0) & ((generated[..., 1] > 0) | ~before)
    assert started.sum() > 50 and set(generated[..., 2][started].tolist()) == {7}
    assert not generated[..., 2][~started].any()
    velocities = set(rep.decode(result.arrays[0]).notes["velocity"].tolist())
    assert velocities == {int(rep.bin_velocity(np.array(7)))}


def test_train_with_velocity_bins_and_compose_with_dynamics(tmp_path: Path) -> None:
    """Composed from silence (no primer carries a velocity in), every note takes a velocity
    the model's dynamics output drew: several bins from the lightly trained head, and only
    bin 7 from the same checkpoint with its head forced to bin 7."""
    from typer.testing import CliRunner

    from cadenza.checkpoint import load_checkpoint, save_checkpoint
    from cadenza.cli import app
    from cadenza.midi import read_midi, write_midi

    midi = tmp_path / "midi"
    rng = np.random.default_rng(0)
    for i in range(6):
        write_midi(_score(rng.integers(20, 120, 64).tolist()), midi / f"p{i}.mid")
    runner = CliRunner()
    trained = runner.invoke(app, [
        "train", "--model", "biaxial-debug", "--data", str(midi), "--steps", "4",
        "--set", "velocity_bins=8", "--eval-every", "2", "--checkpoint-every", "2",
        "--sample-every", "0", "--workers", "1", "--no-progress", "--out", str(tmp_path / "r")])
    assert trained.exit_code == 0, trained.output

    def composed_velocities(checkpoint: Path, name: str) -> list[int]:
        out = tmp_path / name
        result = runner.invoke(app, ["generate", str(checkpoint), "--bars", "2", "--seed", "3",
                                     "--no-primer", "--out", str(out)])
        assert result.exit_code == 0, result.output
        (piece,) = out.glob("*.mid")
        return read_midi(piece).notes["velocity"].tolist()

    loaded = load_checkpoint(tmp_path / "r")
    rep = loaded.representation
    assert isinstance(rep, NoteState)
    centres = {int(rep.bin_velocity(np.array(b))) for b in range(1, 9)}
    velocities = composed_velocities(tmp_path / "r", "trained")
    assert len(velocities) > 10 and set(velocities) <= centres
    assert len(set(velocities)) > 2  # drawn from a spread of bins, not one fixed value
    model = loaded.model
    assert isinstance(model, BiaxialLSTM) and model.velocity is not None
    with torch.no_grad():
        model.velocity.weight.zero_()
        model.velocity.bias.copy_(torch.tensor([0.0] * 6 + [30.0, 0.0]))  # bin 7
    save_checkpoint(tmp_path / "forced", model, rep, loaded.info)
    forced = composed_velocities(tmp_path / "forced", "forced")
    assert forced and set(forced) == {int(rep.bin_velocity(np.array(7)))}


def test_a_model_learns_dynamics_on_top_of_its_notes(tmp_path: Path) -> None:
    """--init from a model without velocities: every saved weight arrives, the velocity head
    starts fresh; any other difference in the representation is still refused."""
    from safetensors.torch import load_file

    from cadenza.checkpoint import init_from, save_checkpoint
    from cadenza.errors import CheckpointError
    from cadenza.models.registry import build_model, fit_config, get_preset

    plain = NoteState()
    torch.manual_seed(0)
    old = build_model(fit_config(get_preset("biaxial-debug"), plain))
    save_checkpoint(tmp_path / "old", old, plain, {"preset": "biaxial-debug"})
    rep = NoteState(NoteStateConfig(velocity_bins=8))
    model = build_model(fit_config(get_preset("biaxial-debug"), rep))
    fresh = model.velocity.weight.detach().clone()  # type: ignore[union-attr]
    init_from(model, tmp_path / "old", rep)
    saved = load_file(str(tmp_path / "old" / "model.safetensors"))
    state = model.state_dict()
    for key, value in saved.items():
        torch.testing.assert_close(state[key], value)
    torch.testing.assert_close(model.velocity.weight, fresh)  # type: ignore[union-attr]
    other = NoteState(NoteStateConfig(velocity_bins=8, steps_per_quarter=2))
    with pytest.raises(CheckpointError, match="representation differs"):
        init_from(build_model(fit_config(get_preset("biaxial-debug"), other)),
                  tmp_path / "old", other)


def test_the_default_model_composes_with_dynamics(tmp_path: Path) -> None:
    import cadenza

    piece = cadenza.compose(bars=4, seed=1, composer="Bach")
    generated = piece.notes[piece.notes["start"] >= piece.generated_start_tick]
    assert len(set(generated["velocity"].tolist())) > 2


def test_velocity_metrics_by_hand() -> None:
    """Bar 1: 40, 60; bar 2: 100, 100; bar 3: 80 (4/4, 4 steps per quarter)."""
    from cadenza.metrics.registry import compute_all

    notes = make_notes([0, 8, 16, 24, 32], [4] * 5, [60, 62, 64, 65, 67], [40, 60, 100, 100, 80])
    score = Score(notes, 4, time_signatures=(TimeSignature(0, 4, 4),))
    values = compute_all(score, ["velocity_mean", "velocity_spread", "velocity_change_per_bar"])
    assert values["velocity_mean"] == pytest.approx(76.0)
    assert values["velocity_spread"] == pytest.approx(np.std([40, 60, 100, 100, 80]))
    assert values["velocity_change_per_bar"] == pytest.approx((50 + 20) / 2)  # 50->100->80
    flat = Score(make_notes([0, 16], [4, 4], [60, 60], 80), 4,
                 time_signatures=(TimeSignature(0, 4, 4),))
    assert compute_all(flat, ["velocity_spread", "velocity_change_per_bar"]) == {
        "velocity_spread": 0.0, "velocity_change_per_bar": 0.0}


def test_generate_with_a_fixed_velocity(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cadenza.cli import app
    from cadenza.midi import read_midi

    runner = CliRunner()
    result = runner.invoke(app, ["generate", "pianoroll-piano", "--bars", "1", "--seed", "2",
                                 "--velocity", "45", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (piece,) = tmp_path.glob("*.mid")
    assert set(read_midi(piece).notes["velocity"].tolist()) == {45}
    bad = runner.invoke(app, ["generate", "--velocity", "loud", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "--velocity must be" in bad.output
    high = runner.invoke(app, ["generate", "--velocity", "300", "--out", str(tmp_path)])
    assert high.exit_code == 2 and "1..127" in high.output


def test_the_velocity_temperature_sharpens_the_drawn_bins() -> None:
    """Near 0 every started note takes its most likely bin; at 1 the bins follow the model's
    distribution; notes that do not start take none."""
    from cadenza.generation.notes import _velocity_bins

    probs = torch.tensor([0.1, 0.2, 0.6, 0.1]).expand(1, 400, 4).clone()
    probs[0, 1::2] = torch.tensor([0.5, 0.3, 0.1, 0.1])
    notes = torch.zeros(1, 400, 2)
    notes[0, :390] = 1.0  # 390 struck notes, 10 silent
    before = torch.zeros(1, 400, dtype=torch.bool)
    outputs = {"velocity_probs": probs}
    sharp = _velocity_bins(outputs, notes, before, torch.Generator().manual_seed(0), 0.01)
    expected = torch.where(torch.arange(400) % 2 == 0, 3.0, 1.0)[None]
    expected[0, 390:] = 0.0
    assert torch.equal(sharp, expected)
    loose = _velocity_bins(outputs, notes, before, torch.Generator().manual_seed(0), 1.0)
    assert set(loose[0, :390].tolist()) == {1.0, 2.0, 3.0, 4.0}
    assert (loose[0, 390:] == 0).all()
    share = float((loose[0, 0:390:2] == 3.0).float().mean())
    assert 0.45 < share < 0.75  # about 0.6


def _bach_piece(tmp_path: Path, bars: int, seed: int, **options: object) -> np.ndarray:
    """The notes of one piece of the shipped model after a Bach primer."""
    from cadenza.composing import ComposeRequest, compose

    request = ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path, bars=bars, seed=seed,
                             composer="Bach", write_files=False, **options)  # type: ignore[arg-type]
    return compose(request).pieces[0].score.notes


def test_the_velocity_temperature_changes_loudness_not_notes(tmp_path: Path) -> None:
    """The velocity draws come from the same generator, so a piece keeps its notes; a model
    without a dynamics output refuses the setting; the shipped model carries its own."""
    from cadenza.composing import ComposeRequest, compose, load
    from cadenza.errors import ConfigError

    steady = _bach_piece(tmp_path, 2, 4, velocity_temperature=0.05)
    lively = _bach_piece(tmp_path, 2, 4, velocity_temperature=2.0)
    for field in ("start", "pitch", "duration"):
        assert np.array_equal(steady[field], lively[field])
    assert np.std(steady["velocity"]) < np.std(lively["velocity"])
    with pytest.raises(ConfigError, match="no dynamics output"):
        compose(ComposeRequest(checkpoint="pianoroll-piano", out_dir=tmp_path, bars=1,
                               velocity_temperature=0.5))
    with pytest.raises(ConfigError, match="velocity temperature"):
        ComposeRequest(velocity_temperature=0.0)
    assert load("biaxial-piano").generation_default("velocity_temperature", 1.0) < 1.0


def test_the_loudness_memory_keeps_new_notes_near_the_recent_level() -> None:
    """Without a level the weights are flat; after loud notes the loud bins weigh most; the
    level forgets with a half-life; a row copied by rhythm copy takes its source's level."""
    from cadenza.generation.loudness import LoudnessMemory

    memory = LoudnessMemory(1.0, rows=2, bins=8, half_life_steps=4.0)
    assert torch.equal(memory.weights(), torch.ones(2, 8))
    started = torch.zeros(2, 5)
    started[0, :3] = 7.0  # row 0 starts three notes in bin 7; row 1 none
    memory.update(started)
    weights = memory.weights()
    assert int(weights[0].argmax()) == 6 and weights[0, 6] == pytest.approx(1.0)
    assert weights[0, 0] < 1e-5 < weights[0, 5]
    assert torch.equal(weights[1], torch.ones(8))
    quiet = torch.zeros(2, 5)
    quiet[0, 0] = 1.0  # one quiet note once the loud ones are a half-life (4 steps) old
    for _ in range(3):
        memory.update(torch.zeros(2, 5))
    memory.update(quiet)
    level = float(memory.sums[0] / memory.counts[0])
    assert level == pytest.approx((1.5 * 7 + 1) / 2.5)
    memory.take_rows(np.array([0, 0]))
    assert torch.equal(memory.weights()[1], memory.weights()[0])


def test_the_velocity_memory_narrows_loudness_not_notes(tmp_path: Path) -> None:
    """Loudness memory draws the velocities with the same generator: the notes are the same,
    the spread narrower; an out-of-range width and a model without dynamics are refused."""
    from cadenza.composing import ComposeRequest, compose
    from cadenza.errors import ConfigError

    free = _bach_piece(tmp_path, 4, 7, velocity_memory=0.0)
    held = _bach_piece(tmp_path, 4, 7, velocity_memory=0.5)
    for field in ("start", "pitch", "duration"):
        assert np.array_equal(free[field], held[field])
    assert np.std(held["velocity"]) < 0.8 * np.std(free["velocity"])
    with pytest.raises(ConfigError, match="no dynamics output"):
        compose(ComposeRequest(checkpoint="pianoroll-piano", out_dir=tmp_path, bars=1,
                               velocity_memory=1.0))
    with pytest.raises(ConfigError, match="velocity_memory"):
        ComposeRequest(velocity_memory=-1.0)


def test_the_loudness_drift_moves_the_level_at_bar_lines_only() -> None:
    """The tilt holds within a bar and is drawn afresh at each bar line, as a first-order
    autoregression of the asked spread; the same seed draws the same levels; a row copied
    by rhythm copy takes its source's level."""
    from cadenza.generation.loudness import DRIFT_CORRELATION, LoudnessDrift

    drift = LoudnessDrift(1.0, rows=4000, bins=8, bar_steps=16, seed=3)
    first = drift.weights(0)
    assert first.shape == (4000, 8)
    assert torch.equal(drift.weights(15), first)  # the same bar
    loud = first[:, 7] > first[:, 0]  # a positive tilt favours the loud bins
    assert torch.equal(loud, torch.from_numpy(drift.tilt > 0))
    before = drift.tilt.copy()
    drift.weights(16)
    after = drift.tilt.copy()
    assert not np.array_equal(before, after)
    assert np.corrcoef(before, after)[0, 1] == pytest.approx(DRIFT_CORRELATION, abs=0.05)
    assert after.std() == pytest.approx(1.0, abs=0.05)
    again = LoudnessDrift(1.0, rows=4000, bins=8, bar_steps=16, seed=3)
    assert torch.equal(again.weights(16), drift.weights(16))
    drift.take_rows(np.zeros(4000, dtype=np.int64))
    assert torch.equal(drift.weights(16)[1], drift.weights(16)[0])


def _bar_change(notes: np.ndarray) -> float:
    """Mean absolute change of the mean velocity from one 16-step bar to the next."""
    bar = notes["start"] // 16
    counts = np.bincount(bar)
    means = np.bincount(bar, weights=notes["velocity"])[counts > 0] / counts[counts > 0]
    return float(np.abs(np.diff(means)).mean())


def test_the_velocity_drift_changes_bar_levels_not_notes(tmp_path: Path) -> None:
    """The drift draws from its own stream: the notes are the same, the bars further apart in
    loudness; an out-of-range drift and a model without dynamics are refused."""
    from cadenza.composing import ComposeRequest, compose
    from cadenza.errors import ConfigError

    still = _bach_piece(tmp_path, 8, 7, velocity_drift=0.0)
    moving = _bach_piece(tmp_path, 8, 7, velocity_drift=1.5)
    for field in ("start", "pitch", "duration"):
        assert np.array_equal(still[field], moving[field])
    assert _bar_change(moving) > 1.3 * _bar_change(still)
    with pytest.raises(ConfigError, match="no dynamics output"):
        compose(ComposeRequest(checkpoint="pianoroll-piano", out_dir=tmp_path, bars=1,
                               velocity_drift=1.0))
    with pytest.raises(ConfigError, match="velocity_drift"):
        ComposeRequest(velocity_drift=5.0)
