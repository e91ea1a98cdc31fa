"""The transformer family: relative attention, its key/value cache, batches and generation."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.data.batching.remi import RemiBatchMaker
from cadenza.errors import ConfigError, DataError
from cadenza.generation import GenerationConfig, generate
from cadenza.midi import write_midi
from cadenza.models.transformer import (
    PRESETS,
    MusicTransformer,
    TransformerConfig,
    build,
    config_for,
    skew,
)
from cadenza.representations.remi import (
    BAR,
    END,
    KIND_BAR,
    KIND_DUR,
    KIND_END,
    KIND_PITCH,
    KIND_POS,
    KIND_VEL,
    Remi,
    RemiConfig,
)
from cadenza.score import Score, TimeSignature, make_notes

DEBUG = PRESETS["transformer-debug"]


def little_piece(bars: int = 12, shift: int = 0) -> Score:
    """A bass note per beat under a rising three-note figure, velocity rising per bar."""
    starts, durations, pitches, velocities = [], [], [], []
    for bar in range(bars):
        for beat in range(4):
            tick = bar * 16 + beat * 4
            starts += [tick, tick, tick + 2]
            durations += [4, 2, 2]
            pitches += [48 + shift + (bar % 3), 64 + shift + beat, 67 + shift + beat]
            velocities += [40 + 5 * bar] * 3
    return Score(make_notes(starts, durations, pitches, velocities), 4,
                 time_signatures=(TimeSignature(0, 4, 4),), name=f"little{shift}")


def check_grammar(rep: Remi, tokens: np.ndarray) -> None:
    """Every token may follow the one before it, as the generator promises."""
    kinds = rep.kinds(tokens).tolist()
    after = {
        KIND_BAR: {KIND_BAR, KIND_END, KIND_POS},
        KIND_POS: {KIND_PITCH},
        KIND_PITCH: {KIND_VEL} if rep.config.velocity_bins else {KIND_DUR},
        KIND_VEL: {KIND_DUR},
        KIND_DUR: {KIND_PITCH, KIND_POS, KIND_BAR, KIND_END},
        KIND_END: {KIND_END},
    }
    for before, now in pairwise(kinds):
        assert now in after[before], (before, now)


# -- config ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_and_round_trip_json(name: str) -> None:
    config = PRESETS[name]
    assert config.family == "transformer"
    data = json.loads(json.dumps(config.to_dict()))
    assert TransformerConfig.from_dict(data) == config
    if name != "transformer-paper":  # 25M parameters: built once is enough elsewhere
        assert build(config).num_parameters() > 0


@pytest.mark.parametrize("bad", [{"num_heads": 3}, {"d_model": 0}, {"dropout": 1.0},
                                 {"vocab_size": 0}, {"seq_len": "8"},
                                 {"transpose_range": (3, -3)}])
def test_bad_configs_say_which_field(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        replace(DEBUG, **bad)


def test_config_takes_the_vocabulary_of_the_representation() -> None:
    rep = Remi(RemiConfig(velocity_bins=0, max_duration=16))
    assert config_for(DEBUG, rep).vocab_size == rep.vocab_size == 2 + 16 + 88 + 16


# -- relative attention ---------------------------------------------------------------------
def test_skew_puts_each_distance_where_it_belongs() -> None:
    """skew(Q E^T)[i, j] == q_i . E[distance j - i] for every j <= i, computed naively."""
    torch.manual_seed(0)
    t, d = 6, 4
    q = torch.randn(t, d)
    table = torch.randn(t, d)  # row r: distance r - (t - 1)
    skewed = skew(q @ table.T)
    for i in range(t):
        for j in range(i + 1):
            expected = q[i] @ table[t - 1 + (j - i)]
            assert torch.allclose(skewed[i, j], expected, atol=1e-6)


def test_attention_depends_on_distance_only() -> None:
    """Shifting a window's content by one token leaves the logits of the shared part alone
    only when nothing absolute is used: compare the last position of two equal suffixes."""
    torch.manual_seed(0)
    model = build(replace(DEBUG, seq_len=16)).eval()
    tokens = torch.randint(2, DEBUG.vocab_size, (1, 10))
    logits, _ = model._run(tokens, None)
    # The same tokens after a different prefix of equal length: position is not absolute, so
    # a causal model that saw nothing else would agree; with the prefix it must differ.
    prefixed = torch.cat([torch.randint(2, DEBUG.vocab_size, (1, 3)), tokens], dim=1)
    shifted, _ = model._run(prefixed, None)
    alone, _ = model._run(tokens[:, :1], None)
    first_again, _ = model._run(prefixed[:, 3:4], None)
    assert torch.allclose(alone, first_again)  # one token alone: same wherever it stands
    assert not torch.allclose(logits[:, -1], shifted[:, -1])  # context matters


def test_causal_no_token_sees_the_future() -> None:
    torch.manual_seed(0)
    model = build(replace(DEBUG, seq_len=16)).eval()
    tokens = torch.randint(0, DEBUG.vocab_size, (2, 12))
    changed = tokens.clone()
    changed[:, 8:] = (changed[:, 8:] + 7) % DEBUG.vocab_size
    a, _ = model._run(tokens, None)
    b, _ = model._run(changed, None)
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-6)
    assert not torch.allclose(a[:, 8:], b[:, 8:])


def test_cached_steps_equal_the_full_window() -> None:
    """Reading a primer, then one token at a time with the cache, gives the logits of one
    teacher-forced pass over the whole sequence."""
    torch.manual_seed(1)
    model = build(replace(DEBUG, seq_len=16, num_layers=2)).eval()
    tokens = torch.randint(0, DEBUG.vocab_size, (3, 14))
    full, _ = model._run(tokens, None)
    out, cache = model.step(tokens[:, :4], None)
    steps = [out["logits"]]
    for t in range(4, 14):
        out, cache = model.step(tokens[:, t], cache)
        steps.append(out["logits"])
    assert torch.allclose(torch.stack(steps, dim=1), full[:, 3:], atol=1e-5)


def test_cache_never_holds_more_than_the_window() -> None:
    model = build(replace(DEBUG, seq_len=8)).eval()
    _, cache = model.step(torch.zeros(1, 8, dtype=torch.long), None)
    for _ in range(20):
        _, cache = model.step(torch.zeros(1, dtype=torch.long), cache)
    keys, values = cache[0]
    assert keys.shape[2] == values.shape[2] == 8
    with pytest.raises(ConfigError, match="one token"):
        model.step(torch.zeros(1, 2, dtype=torch.long), cache)


def test_loss_is_the_mean_token_cross_entropy_and_learns() -> None:
    torch.manual_seed(0)
    model = build(replace(DEBUG, seq_len=16))
    tokens = torch.randint(0, DEBUG.vocab_size, (4, 17))
    batch = {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]}
    model.eval()
    loss, metrics = model.loss(batch)
    logits, _ = model._run(batch["inputs"], None)
    by_hand = -torch.log_softmax(logits, -1).gather(-1, batch["targets"][..., None]).mean()
    assert float(loss.detach()) == pytest.approx(float(by_hand.detach()), rel=1e-5)
    assert metrics["token_ce"] == pytest.approx(float(loss.detach()))
    assert float(loss.detach()) == pytest.approx(math.log(DEBUG.vocab_size), rel=0.2)
    assert model.summed_cost_terms(batch) == 4 * 16
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        model.loss(batch)[0].backward()
        optimizer.step()
    model.eval()
    assert model.loss(batch)[0].item() < 0.5 * loss.item()  # it can memorise four windows


# -- batches --------------------------------------------------------------------------------
def test_batches_are_bar_aligned_shifted_windows() -> None:
    rep = Remi()
    arrays = [rep.encode(little_piece(12, shift)) for shift in (0, 2)]
    maker = RemiBatchMaker(arrays, rep, batch_size=5, seq_len=24, transpose_range=(-2, 2))
    batch = maker.training_batch(np.random.default_rng(0))
    assert batch["inputs"].shape == batch["targets"].shape == (5, 24)
    assert torch.equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])
    assert bool((batch["inputs"][:, 0] == BAR).all())
    assert sum(maker.transpositions.values()) == 5
    first = [b["inputs"].clone() for b in maker.eval_batches()]
    again = [b["inputs"] for b in maker.eval_batches()]
    assert len(first) >= 1 and all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    with pytest.raises(DataError, match="long enough"):
        RemiBatchMaker([arrays[0][:10]], rep, batch_size=2, seq_len=24)


def test_transposed_windows_keep_every_note() -> None:
    """Only intervals that keep the whole window on the keyboard are used: pitches 23..105
    allow -2..+3, so a range of -5..+5 never uses -5..-3 or +4, +5."""
    rep = Remi()
    low = little_piece(12).notes.copy()
    low["pitch"][0] = 23
    low["pitch"][1] = 105
    array = rep.encode(little_piece(12).copy_with(notes=low))
    maker = RemiBatchMaker([array], rep, batch_size=4, seq_len=len(array) - 1,
                           transpose_range=(-5, 5))
    rng = np.random.default_rng(3)
    window = maker.window(0, 0)
    pitch_at = rep.kinds(window) == KIND_PITCH
    for _ in range(40):
        moved = maker.transpose_window(window, rng)
        assert len(moved) == len(window)
        shift = set((moved[pitch_at] - window[pitch_at]).tolist())
        assert len(shift) == 1 and -2 <= shift.pop() <= 3
    assert set(maker.transpositions) <= set(range(-2, 4)) and len(maker.transpositions) > 2


# -- generation -----------------------------------------------------------------------------
def _trained_debug(rep: Remi) -> MusicTransformer:
    torch.manual_seed(0)
    return build(config_for(replace(DEBUG, seq_len=24), rep)).eval()


def test_generation_is_reproducible_and_follows_the_grammar() -> None:
    rep = Remi()
    model = _trained_debug(rep)
    primer = rep.encode(little_piece(4))[:20]
    settings = GenerationConfig(length=60, count=3, seed=5)
    first = generate(model, rep, primer, settings)
    again = generate(model, rep, primer, settings)
    other = generate(model, rep, primer, replace(settings, seed=6))
    assert first.primer_length == 20
    for a, b in zip(first.arrays, again.arrays, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a[:20], primer)
        check_grammar(rep, a)
        rep.decode(a)
    assert any(not np.array_equal(a, b) for a, b in zip(first.arrays, other.arrays, strict=True))


def test_generation_stops_at_the_asked_bars() -> None:
    rep = Remi()
    model = _trained_debug(rep)
    primer = rep.encode(little_piece(2))[:-1]  # two bars, without the END
    result = generate(model, rep, primer, GenerationConfig(length=4000, count=2, seed=1,
                                                           bars=3))
    for array in result.arrays:
        check_grammar(rep, array)
        notes = rep.decode(array).notes
        assert int(notes["start"].max()) < (2 + 3) * 16  # nothing past the third new bar
        assert array[-1] == END or len(array) == len(primer) + 4000


def test_generation_keeps_a_key_and_a_range() -> None:
    from cadenza.controls import pitch_weights

    rep = Remi()
    model = _trained_debug(rep)
    primer = np.array([BAR], dtype=np.int64)
    weights = pitch_weights("C major", pitch_range="C3-C5")
    result = generate(model, rep, primer, GenerationConfig(length=200, count=2, seed=2,
                                                           pitch_weights=weights))
    pitches = np.concatenate([rep.decode(a).notes["pitch"] for a in result.arrays])
    assert len(pitches) > 5
    assert set((pitches % 12).tolist()) <= {0, 2, 4, 5, 7, 9, 11}
    assert pitches.min() >= 48 and pitches.max() <= 72


def test_bad_primer_is_refused() -> None:
    rep = Remi()
    model = _trained_debug(rep)
    with pytest.raises(DataError, match="1-D"):
        generate(model, rep, np.zeros((4, 3), np.int64), GenerationConfig(length=4))
    with pytest.raises(DataError, match="outside"):
        generate(model, rep, np.array([0, 999]), GenerationConfig(length=4))


# -- the command line -----------------------------------------------------------------------
def test_train_resume_and_compose_from_the_command_line(tmp_path: Path) -> None:
    midi = tmp_path / "midi"
    midi.mkdir()
    for index in range(8):
        write_midi(little_piece(16, index % 4), midi / f"piece{index}.mid")
    run = tmp_path / "run"
    runner = CliRunner()
    common = ["train", "--model", "transformer-debug", "--data", str(midi), "--out", str(run),
              "--threads", "1", "--eval-every", "5", "--log-every", "2"]
    result = runner.invoke(app, [*common, "--steps", "6"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*common, "--steps", "10", "--resume"])
    assert result.exit_code == 0, result.output
    assert "resum" in result.output.lower()
    log = (run / "log.csv").read_text().splitlines()
    steps = [int(line.split(",")[0]) for line in log[1:] if line.split(",")[0].isdigit()]
    assert steps == sorted(set(steps)) and max(steps) == 10
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", str(run), "--bars", "2", "--seed", "3",
                                 "--out", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.mid"))) == 1
