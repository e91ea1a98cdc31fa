"""The likelihood protocol: exact per-step NLL for piano-roll and biaxial models."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cadenza.data import build_corpus
from cadenza.errors import ConfigError
from cadenza.likelihood import bernoulli_baseline, evaluate_likelihood
from cadenza.models.biaxial import BiaxialConfig, BiaxialLSTM
from cadenza.models.registry import build_model, fit_config, get_preset
from cadenza.representations import NoteState, NoteStateConfig, PianoRoll
from cadenza.representations.pianoroll import PianoRollConfig


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


def _biaxial_on(keys: int, chord_inputs: bool = False) -> tuple[BiaxialLSTM, NoteState]:
    """A debug biaxial model on ``keys`` keys from middle C; ``chord_inputs``: its note axis
    also reads the notes chosen below each key (the chord so far)."""
    rep = NoteState(NoteStateConfig(low=60, high=60 + keys - 1))
    torch.manual_seed(1)
    preset = get_preset("biaxial-debug")
    assert isinstance(preset, BiaxialConfig)
    model = build_model(fit_config(replace(preset, chord_inputs=chord_inputs), rep)).eval()
    assert isinstance(model, BiaxialLSTM)
    return model, rep


WITH_AND_WITHOUT_CHORDS = pytest.mark.parametrize("chord_inputs", [False, True],
                                                  ids=["plain", "chord-inputs"])


def _state_from_play(play: np.ndarray) -> np.ndarray:
    """(T, N) play bits -> (T, N, 2) with articulate = starts sounding at this step."""
    before = np.concatenate([np.zeros_like(play[:1]), play[:-1]])
    return np.stack([play, play & (1 - before)], axis=-1).astype(np.uint8)


@WITH_AND_WITHOUT_CHORDS
def test_biaxial_play_likelihood_is_a_distribution_over_the_keys(chord_inputs: bool) -> None:
    """Summing P(step) over every play pattern of 4 keys gives exactly 1 (with chord inputs
    too: a key sees the chord of the keys below it, never its own note or those above)."""
    model, rep = _biaxial_on(4, chord_inputs)
    history = np.array([[1, 0, 0, 1], [1, 1, 0, 0]], dtype=np.uint8)
    total = 0.0
    for pattern in itertools.product((0, 1), repeat=4):
        play = np.concatenate([history, np.array([pattern], dtype=np.uint8)])
        nll_all = evaluate_likelihood(model, rep, [_state_from_play(play)]).nll_per_step * 3
        nll_history = evaluate_likelihood(model, rep, [_state_from_play(history)]).nll_per_step * 2
        total += float(np.exp(-(nll_all - nll_history)))
    assert total == pytest.approx(1.0, abs=1e-4)


def _stepwise_biaxial_nll(model: BiaxialLSTM, rep: NoteState, state: np.ndarray) -> float:
    """Play NLL (nats, summed) of ``state`` predicted step by step as generation feeds the
    model: one step's features at a time, each at its own beat, through ``model.step``."""
    from cadenza.models.notewalk import NoteRule

    total = 0.0
    recurrent = model.init_state(1)
    previous = np.zeros_like(state[:1])  # the silent step before the piece, at step -1
    for s, row in enumerate(state):
        feats = rep.input_features(previous, first_step=s - 1)  # (1, N, 80)
        out, recurrent = model.step(torch.from_numpy(feats), recurrent,
                                    rule=NoteRule.teacher(row[None].astype(np.float32)))
        p = out["probs"][0, :, 0].double()
        x = torch.from_numpy(row[:, 0]).double()
        total -= float((x * p.log() + (1 - x) * (1 - p).log()).sum())
        previous = row[None]
    return total


@WITH_AND_WITHOUT_CHORDS
def test_biaxial_nll_matches_step_by_step_generation_path(chord_inputs: bool) -> None:
    """The protocol equals the sum a generation-style walk computes, beat by beat (with
    chord inputs, the walk counts the chord as it chooses up the keyboard, the protocol
    counts it from the whole step at once)."""
    model, rep = _biaxial_on(6, chord_inputs)
    play = _random_rolls(1, 21, 6, seed=4)[0]  # 21 steps: the beat bits all change
    state = _state_from_play(play)
    result = evaluate_likelihood(model, rep, [state])
    expected = _stepwise_biaxial_nll(model, rep, state) / len(state)
    assert result.nll_per_step == pytest.approx(expected, rel=1e-5)  # float32: ~1e-7 apart
    if chord_inputs:  # the counts reach the model: without their weights it scores otherwise
        from cadenza.models.chordcontext import CHORD_INPUTS

        first = model.note_layers[0]
        assert isinstance(first, torch.nn.LSTM)
        w_ih = first.all_weights[0][0]  # (4H, Ht + 2 + 12): the chord counts come last
        with torch.no_grad():
            w_ih[:, -CHORD_INPUTS:].zero_()
        unheard = evaluate_likelihood(model, rep, [state]).nll_per_step
        assert abs(unheard - result.nll_per_step) > 1e-3


def test_biaxial_nll_matches_the_trainers_loss_on_the_same_window() -> None:
    """A piece scored by the protocol costs what the training loss charges for the same steps.

    The trainer's window starts at a silent step 15 of a longer piece (beat 15, zero state),
    which is exactly what the protocol puts in front of the piece's step 16 onward.
    """
    from cadenza.data.batching.notestate import NoteStateBatchMaker

    model, rep = _biaxial_on(6)
    play = _random_rolls(1, 16 + 19, 6, seed=7)[0]
    play[15] = 0
    state = _state_from_play(play)
    steps = 19
    maker = NoteStateBatchMaker([state], rep, batch_size=1, seq_len=steps, segment_step=1)
    features, target, _ = maker.example(maker.window(0, 15), 15)
    batch = {"features": torch.from_numpy(features)[None],
             "target": torch.from_numpy(target)[None]}
    with torch.no_grad():
        _, metrics = model.loss(batch)
    trainer_play_sum = metrics["play_bce"] * target.shape[0] * target.shape[1]
    protocol_sum = evaluate_likelihood(model, rep, [state[16:]]).nll_per_step * steps
    assert protocol_sum == pytest.approx(trainer_play_sum, rel=1e-5)


def test_biaxial_frame_accuracy_is_past_only_and_labelled_separately() -> None:
    """The comparable figure walks on the model's own greedy choices for the lower keys."""
    model, rep = _biaxial_on(5)
    play = _random_rolls(1, 12, 5, seed=2)[0]
    state = _state_from_play(play)
    result = evaluate_likelihood(model, rep, [state])
    # Recompute both figures by hand from step-by-step walks.
    from cadenza.models.notewalk import NoteRule

    counts = {"greedy": [0, 0, 0], "forced": [0, 0, 0]}
    recurrent = model.init_state(1)
    previous = np.zeros_like(state[:1])
    for s, row in enumerate(state):
        feats = torch.from_numpy(rep.input_features(previous, first_step=s - 1))
        chosen = np.zeros((1, 5, 2), dtype=np.float32)
        walk_state = recurrent
        for n in range(5):  # greedy walk: each key sees the walk's own choices below it
            forced = chosen.copy()
            out, _ = model.step(feats, walk_state, rule=NoteRule.teacher(forced))
            on = float(out["probs"][0, n, 0] >= 0.5)
            chosen[0, n] = [on, on * (1 - previous[0, n, 0])]
        teacher, recurrent = model.step(feats, recurrent,
                                        rule=NoteRule.teacher(row[None].astype(np.float32)))
        truth = row[:, 0] > 0
        for name, guess in (("greedy", chosen[0, :, 0] > 0),
                            ("forced", teacher["probs"][0, :, 0].numpy() >= 0.5)):
            counts[name][0] += int((guess & truth).sum())
            counts[name][1] += int((guess & ~truth).sum())
            counts[name][2] += int((~guess & truth).sum())
        previous = row[None]

    def acc(c: list[int]) -> float:
        return c[0] / sum(c) if sum(c) else 1.0

    assert result.frame_accuracy == pytest.approx(acc(counts["greedy"]))
    assert result.frame_accuracy_teacher_forced == pytest.approx(acc(counts["forced"]))


def test_other_families_are_refused() -> None:
    model = build_model(get_preset("events-debug"))
    with pytest.raises(ConfigError, match="piano-roll and biaxial"):
        evaluate_likelihood(model, PianoRoll(), [np.zeros((4, 3), dtype=np.int32)])


def test_independent_bernoulli_baseline_through_the_protocol(
    jsb_path: Path, tmp_path: Path
) -> None:
    """A model whose every key has its training-set frequency scores about 11.1 on JSB test.

    The baseline runs through ``evaluate_likelihood`` (a piano-roll LSTM whose output layer
    ignores its input and emits the fitted log-odds), and is checked against the same sum
    computed directly.
    """
    rep = PianoRoll(PianoRollConfig(steps_per_quarter=1))
    corpus = build_corpus(jsb_path, rep, workers=1, cache_dir=tmp_path, progress=False)
    train = np.concatenate([p.array for p in corpus.split("train")]).astype(np.float64)
    p = (train.sum(axis=0) + 1) / (len(train) + 2)  # add-one smoothing: no key is impossible
    model = build_model(get_preset("pianoroll-debug")).eval()
    with torch.no_grad():
        model.output.weight.zero_()  # type: ignore[union-attr, operator]
        model.output.bias.copy_(torch.logit(torch.from_numpy(p)).float())  # type: ignore[union-attr, operator]
    test = [piece.array for piece in corpus.split("test")]
    result = evaluate_likelihood(model, rep, test)
    x = np.concatenate(test).astype(np.float64)
    direct = -(x * np.log(p) + (1 - x) * np.log1p(-p)).sum() / len(x)
    assert result.steps == len(x) and result.pieces == len(test)
    assert result.nll_per_step == pytest.approx(direct, rel=1e-5)
    assert 10.8 < result.nll_per_step < 11.4, result.nll_per_step  # "about 11.1"
    baseline = bernoulli_baseline([piece.array for piece in corpus.split("train")], test)
    assert baseline.nll_per_step == pytest.approx(result.nll_per_step, rel=1e-5)
    assert (baseline.steps, baseline.pieces) == (result.steps, result.pieces)
    assert baseline.frame_accuracy == pytest.approx(result.frame_accuracy)


def test_benchmark_command_reports_models_baseline_and_published(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from cadenza.cli import app

    rng = np.random.default_rng(0)

    def pieces(count: int) -> list[list[list[int]]]:
        return [[sorted({int(k) for k in rng.integers(48, 72, 3)}) for _ in range(24)]
                for _ in range(count)]

    data = tmp_path / "jsb_chorales.json"  # the name picks the published JSB column
    data.write_text(json.dumps({"train": pieces(6), "valid": pieces(2), "test": pieces(2)}))
    result = CliRunner().invoke(app, [
        "benchmark", "--dataset", str(data), "-m", "pianoroll-debug", "--steps", "4",
        "--eval-every", "2", "--budget-minutes", "1", "--threads", "1",
        "--out", str(tmp_path / "out"),
    ])
    assert result.exit_code == 0, result.output
    assert "Bernoulli" in result.output and "published" in result.output  # table rows
    (report_file,) = (tmp_path / "out").glob("*.json")
    report = json.loads(report_file.read_text())
    (row,) = report["results"]
    assert row["model"] == "pianoroll-debug" and row["train_steps"] == 4
    assert row["test_steps"] == report["independent_bernoulli"]["test_steps"] == 48
    assert 0 < report["independent_bernoulli"]["test_nll_per_step"] < row["test_nll_per_step"]
    assert "pianoroll-debug " in result.output  # names are not cut when stdout is no terminal
    # --score re-scores the saved run without training, to the same figures.
    again = CliRunner().invoke(app, [
        "benchmark", "--dataset", str(data), "--score", row["run"], "--threads", "1",
        "--out", str(tmp_path / "rescored"),
    ])
    assert again.exit_code == 0, again.output
    (rescored_file,) = (tmp_path / "rescored").glob("*.json")
    (rescored,) = json.loads(rescored_file.read_text())["results"]
    assert rescored["test_nll_per_step"] == pytest.approx(row["test_nll_per_step"], rel=1e-6)
    assert rescored["best_step"] == row["best_step"]
    # A model that fails (here: an unknown preset) costs only its own row.
    mixed = CliRunner().invoke(app, [
        "benchmark", "--dataset", str(data), "-m", "pianoroll-debug", "-m", "nosuch-debug",
        "--steps", "2", "--eval-every", "2", "--threads", "1", "--out", str(tmp_path / "mixed"),
    ])
    assert mixed.exit_code != 0 and "1 of 2 model(s) failed" in mixed.output
    (mixed_file,) = (tmp_path / "mixed").glob("*.json")
    kept = json.loads(mixed_file.read_text())
    assert [r["model"] for r in kept["results"]] == ["pianoroll-debug"]
    assert "nosuch-debug" in kept["failures"][0]


def test_hand_computed_value_for_a_coin_flipping_model() -> None:
    """Every key at probability 1/2: each step costs 88 ln 2 = 60.997 nats, and predicting
    every key on gives frame accuracy = sounding cells / all cells."""
    model = build_model(get_preset("pianoroll-debug")).eval()
    with torch.no_grad():
        model.output.weight.zero_()  # type: ignore[union-attr, operator]
        model.output.bias.zero_()  # type: ignore[union-attr, operator]
    roll = np.zeros((4, 88), dtype=np.uint8)
    roll[0, [39, 43, 46]] = 1  # a C major chord, then two silent steps, then one key
    roll[3, 60] = 1
    result = evaluate_likelihood(model, PianoRoll(), [roll])
    assert result.nll_per_step == pytest.approx(88 * np.log(2), rel=1e-6)
    assert result.frame_accuracy == pytest.approx(4 / (4 * 88))


def test_benchmark_on_a_midi_folder_scores_its_generation_split(tmp_path: Path) -> None:
    """A folder is split by cadenza, the biaxial model widened to 88 keys, and the
    generation split scored against the piano roll under the same protocol."""
    import json

    from typer.testing import CliRunner

    from cadenza.cli import app
    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    folder = tmp_path / "midi"
    for i in range(24):
        starts = np.arange(0, 96, 2)
        score = Score(make_notes(starts, np.full(len(starts), 2), 50 + i + starts % 12), 4,
                      time_signatures=(TimeSignature(0, 4, 4),))
        write_midi(score, folder / f"piece{i:02d}.mid")
    result = CliRunner().invoke(app, [
        "benchmark", "--dataset", str(folder), "-m", "pianoroll-debug", "-m", "biaxial-debug",
        "--steps", "2", "--eval-every", "2", "--threads", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (report_file,) = (tmp_path / "out").glob("*.json")
    rows = json.loads(report_file.read_text())["results"]
    assert [r["model"] for r in rows] == ["pianoroll-debug", "biaxial-debug"]
    assert rows[0]["test_steps"] == rows[1]["test_steps"] > 0  # the same steps scored
    assert rows[0]["test_pieces"] == rows[1]["test_pieces"] >= 1
