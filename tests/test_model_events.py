"""The attention LSTM over MIDI messages and its batch maker (the checks every family
shares are in ``test_model_families.py``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cadenza.data.batching.base import evenly_spaced_windows
from cadenza.data.batching.events import EventsBatchMaker
from cadenza.errors import DataError
from cadenza.models.events import (
    PRESETS,
    EventsLSTMConfig,
    build,
    config_for,
    duration_to_ticks,
)
from cadenza.representations.events import Events, EventsConfig
from cadenza.score import Score, make_notes

DEBUG = PRESETS["events-debug"]


def fitted_events(**config: int) -> Events:
    """An events representation fitted on a small built-in piece."""
    rep = Events(EventsConfig(**config))
    rep.fit([scale_score(rep.config.steps_per_quarter)])
    return rep


def scale_score(steps_per_quarter: int, length: int = 40) -> Score:
    """A quantised run of notes of varied lengths and gaps, with some chords."""
    rng = np.random.default_rng(0)
    starts = np.cumsum(rng.choice([0, 3, 6, 12], size=length))
    durations = rng.choice([3, 6, 12, 24], size=length)
    pitches = 48 + rng.integers(0, 30, size=length)
    notes = make_notes(starts, durations, pitches, np.full(length, 80))
    return Score(notes=notes, ticks_per_quarter=steps_per_quarter, name="scale")


def random_batch(config: EventsLSTMConfig, batch: int = 3, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    w = config.seq_len
    window = torch.stack(
        [
            torch.randint(0, config.num_pitches, (batch, w), generator=gen),
            torch.randint(0, 2, (batch, w), generator=gen),
            torch.randint(0, config.max_delta + 1, (batch, w), generator=gen),
        ],
        dim=-1,
    )  # (B, W, 3)
    target = torch.stack(
        [
            torch.randint(0, config.num_pitches, (batch,), generator=gen),
            torch.randint(0, 2, (batch,), generator=gen),
            torch.randint(0, config.max_delta + 1, (batch,), generator=gen),
        ],
        dim=-1,
    )  # (B, 3)
    return {"window": window, "target": target}


# -- config -------------------------------------------------------------------------------


def test_original_preset_keeps_the_original_shape() -> None:
    config = PRESETS["events-attention"]
    assert config.seq_len == 150 and config.num_pitches == 88
    assert config.generate_messages == 1000
    assert config.transpose_range == (0, 0)


def test_config_for_takes_range_and_delta_scale_from_representation() -> None:
    rep = fitted_events(max_delta=48, low=36, high=96)
    config = config_for(PRESETS["events-small"], rep)
    assert config.num_pitches == 61 and config.max_delta == 48
    assert config.hidden_size == PRESETS["events-small"].hidden_size
    assert build(config).pitch_head[-1].out_features == 61


# -- model --------------------------------------------------------------------------------
def test_forward_shapes_and_finite_loss() -> None:
    torch.manual_seed(0)
    model = build(DEBUG)
    batch = random_batch(DEBUG, batch=5)
    out = model.predict(batch["window"])
    assert out["on_logits"].shape == (5, 2) and out["on_probs"].shape == (5, 2)
    assert out["duration"].shape == (5,) and out["pitch_logits"].shape == (5, DEBUG.num_pitches)
    assert torch.all((out["duration"] > 0) & (out["duration"] < 1))
    torch.testing.assert_close(out["on_probs"].sum(-1), torch.ones(5))
    loss, metrics = model.loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(metrics) == {"on_ce", "dur_mse", "pitch_ce", "on_acc", "pitch_acc"}
    assert all(isinstance(v, float) for v in metrics.values())
    # The on/off term computed here from the probabilities and the targets, by hand.
    on_target = batch["target"][:, 1]
    out = {k: v.detach() for k, v in out.items()}
    on_ce = -torch.log(out["on_probs"][torch.arange(5), on_target]).mean()
    assert metrics["on_ce"] == pytest.approx(float(on_ce), rel=1e-5)
    duration = batch["target"][:, 2].float().clamp(0, DEBUG.max_delta) / DEBUG.max_delta
    dur_mse = ((out["duration"] - duration) ** 2).mean()
    pitch_p = torch.softmax(out["pitch_logits"], -1)[torch.arange(5), batch["target"][:, 0]]
    expected = float(on_ce + dur_mse - torch.log(pitch_p).mean())
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_loss_weights_scale_the_terms() -> None:
    batch = random_batch(DEBUG)
    torch.manual_seed(0)
    loss_a, metrics = build(DEBUG).loss(batch)
    torch.manual_seed(0)
    loss_b, _ = build(replace(DEBUG, loss_weights=(0.0, 2.0, 0.5))).loss(batch)
    assert float(loss_b.detach()) == pytest.approx(
        2 * metrics["dur_mse"] + 0.5 * metrics["pitch_ce"]
    )
    assert float(loss_a.detach()) != pytest.approx(float(loss_b.detach()))


def test_cascade_feeds_earlier_heads_into_later_ones() -> None:
    torch.manual_seed(0)
    model = build(DEBUG).eval()
    window = random_batch(DEBUG)["window"]
    before = model.predict(window)
    with torch.no_grad():
        model.on_head[-1].bias += torch.tensor([2.0, -2.0])  # only the on/off head changes
    after_on = model.predict(window)
    assert not torch.allclose(before["on_probs"], after_on["on_probs"])
    assert not torch.allclose(before["duration"], after_on["duration"])
    assert not torch.allclose(before["pitch_logits"], after_on["pitch_logits"])
    with torch.no_grad():
        model.duration_head[-1].bias += 3.0  # only the duration head changes
    after_duration = model.predict(window)
    torch.testing.assert_close(after_duration["on_probs"], after_on["on_probs"])
    assert not torch.allclose(after_duration["duration"], after_on["duration"])
    assert not torch.allclose(after_duration["pitch_logits"], after_on["pitch_logits"])


def test_step_equals_forward_and_keeps_no_state() -> None:
    torch.manual_seed(0)
    model = build(replace(DEBUG, dropout=0.3)).eval()
    window = random_batch(DEBUG)["window"]
    assert model.init_state(3) is None
    outputs, state = model.step(window, model.init_state(3))
    assert state is None
    assert set(outputs) == {"on_probs", "duration", "pitch_logits"}
    expected = model.predict(window)
    for key in outputs:
        torch.testing.assert_close(outputs[key], expected[key])
    short, _ = model.step(window[:, -4:], None)  # a primer shorter than the window
    assert short["pitch_logits"].shape == (3, DEBUG.num_pitches)


def test_prediction_depends_on_message_order() -> None:
    torch.manual_seed(0)
    model = build(DEBUG).eval()
    window = random_batch(DEBUG)["window"]
    reversed_out, _ = model.step(window.flip(1), None)
    out, _ = model.step(window, None)
    assert not torch.allclose(out["pitch_logits"], reversed_out["pitch_logits"])


def test_flops_grow_faster_than_the_window() -> None:
    """Self-attention over the window: twice the messages cost more than twice the FLOPs
    (growth with the batch: ``test_model_families``)."""
    small = build(DEBUG).flops_per_batch(random_batch(DEBUG, batch=2))
    longer = replace(DEBUG, seq_len=2 * DEBUG.seq_len)
    assert build(longer).flops_per_batch(random_batch(longer, batch=2)) > 2 * small > 0


def test_duration_to_ticks_snaps_to_fitted_deltas() -> None:
    rep = fitted_events()
    values = np.asarray(rep.delta_values)
    scaled = torch.linspace(0, 1, 25)
    ticks = duration_to_ticks(scaled, rep)
    assert ticks.shape == (25,) and ticks.dtype == np.int64
    assert set(ticks.tolist()) <= set(values.tolist())
    assert ticks[0] == values.min() and ticks[-1] == rep.snap_delta(np.array([96]))[0]
    assert np.all(np.diff(ticks) >= 0)
    exact = torch.tensor([float(v) / rep.config.max_delta for v in values])
    np.testing.assert_array_equal(duration_to_ticks(exact, rep), values)


# -- batches ------------------------------------------------------------------------------
def hand_array(length: int, offset: int = 0) -> np.ndarray:
    """A hand-built events array: pitches 40.. rising, alternating on/off, deltas 0/3/6."""
    index = np.arange(length)
    return np.stack([40 + (index + offset) % 30, index % 2, (index % 3) * 3], axis=1).astype(
        np.int32
    )


def test_batch_maker_windows_and_targets() -> None:
    rep = fitted_events()
    arrays = [hand_array(30), hand_array(20, offset=5), hand_array(5)]  # the last is too short
    maker = EventsBatchMaker(arrays, rep, batch_size=6, seq_len=8)
    assert len(maker.arrays) == 2 and maker.min_length == 9
    batch = maker.training_batch(np.random.default_rng(0))
    assert batch["window"].shape == (6, 8, 3) and batch["target"].shape == (6, 3)
    assert batch["window"].dtype == torch.long and batch["target"].dtype == torch.long
    # Pitches are keyboard indices and rise by one per message, continuing into the target.
    pitches = torch.cat([batch["window"][..., 0], batch["target"][:, None, 0]], dim=1)
    steps = torch.diff(pitches, dim=1)
    assert torch.all((steps == 1) | (steps == -29))
    assert pitches.min() >= 40 - rep.config.low
    on = torch.cat([batch["window"][..., 1], batch["target"][:, None, 1]], dim=1)
    assert torch.all(torch.diff(on, dim=1).abs() == 1)
    assert set(batch["window"][..., 2].unique().tolist()) <= set(rep.delta_values)


def test_batch_maker_snaps_deltas_to_the_representation() -> None:
    rep = fitted_events()
    array = hand_array(20)
    array[:, 2] = 5  # probably not a fitted delta value
    maker = EventsBatchMaker([array], rep, batch_size=2, seq_len=4)
    expected = int(rep.snap_delta(np.array([5]))[0])
    assert np.all(maker.arrays[0][:, 2] == expected)


def test_batch_maker_transposes_window_and_target_together() -> None:
    rep = fitted_events()
    array = hand_array(12)
    array[:, 0] = 60  # one repeated pitch: every example shows its transposition directly
    maker = EventsBatchMaker([array], rep, batch_size=64, seq_len=6, transpose_range=(-3, 3))
    batch = maker.training_batch(np.random.default_rng(1))
    shifts = batch["window"][:, 0, 0] - (60 - rep.config.low)
    assert set(shifts.tolist()) == {-3, -2, -1, 0, 1, 2, 3}
    assert torch.all(batch["window"][..., 0] == batch["window"][:, :1, 0])
    assert torch.all(batch["target"][:, 0] == batch["window"][:, 0, 0])


def test_batch_maker_transposition_stays_on_the_keyboard() -> None:
    rep = fitted_events()
    array = hand_array(12)
    array[:, 0] = rep.config.high - 1  # only one semitone of room upwards
    maker = EventsBatchMaker([array], rep, batch_size=64, seq_len=6, transpose_range=(0, 5))
    batch = maker.training_batch(np.random.default_rng(2))
    top = rep.config.high - rep.config.low
    assert set(batch["window"][:, 0, 0].tolist()) == {top - 1, top}


def test_eval_batches_are_deterministic_even_and_capped() -> None:
    rep = fitted_events()
    arrays = [hand_array(40), hand_array(25, offset=7)]
    maker = EventsBatchMaker(arrays, rep, batch_size=4, seq_len=5, max_eval_batches=3)
    first = list(maker.eval_batches())
    second = list(maker.eval_batches())
    assert len(first) == 3
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a["window"], b["window"]) and torch.equal(a["target"], b["target"])
    starts = torch.cat([b["window"][:, 0, 0] for b in first])
    assert len(set(starts.tolist())) > 6  # spread over both pieces, not one repeated window
    everything = list(EventsBatchMaker(arrays, rep, batch_size=4, seq_len=5).eval_batches())
    assert sum(len(b["target"]) for b in everything) == (40 - 5) + (25 - 5)


def test_evenly_spaced_windows() -> None:
    assert evenly_spaced_windows([3, 2], 10) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    picked = evenly_spaced_windows([50, 50], 4)
    assert picked == [(0, 0), (0, 25), (1, 0), (1, 25)]
    assert evenly_spaced_windows([0, 0], 4) == []


def test_batch_maker_rejects_pitches_off_the_keyboard() -> None:
    rep = fitted_events()
    low_notes = hand_array(10)
    low_notes[3, 0] = 5
    with pytest.raises(DataError, match=r"piece 0 has pitches 5\.\.49"):
        EventsBatchMaker([low_notes], rep, batch_size=2, seq_len=4)
