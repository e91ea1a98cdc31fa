"""Generation for every family, its guards, reproducibility, and ``cadenza generate``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.composing import ComposeRequest
from cadenza.errors import ConfigError
from cadenza.experiment import prepare_experiment
from cadenza.generation import GenerationConfig, generate
from cadenza.generation.primerbank import corpus_primers
from cadenza.midi import read_midi, write_midi
from cadenza.models.registry import build_model, fit_config, get_preset
from cadenza.representations import Events, NoteState, NoteTokens, PianoRoll
from cadenza.score import Score, TimeSignature, make_notes
from cadenza.training import TrainConfig, Trainer

runner = CliRunner()


def _biaxial(play_bias: float) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(get_preset("biaxial-debug"))
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(torch.tensor([play_bias, 0.0]))
    return model.eval()


def test_anti_silence_kicks_in_on_a_silent_model() -> None:
    model, rep = _biaxial(-6.0), NoteState()  # P(play) = 0.0025 for every note
    quiet = generate(model, rep, None, GenerationConfig(length=150, adaptive=False, seed=1))
    loud = generate(model, rep, None, GenerationConfig(length=150, adaptive=True, seed=1))
    # Share of steps where at least two notes sound: the rule's own criterion.
    quiet_busy = float((quiet.arrays[0][..., 0].sum(-1) >= 2).mean())
    loud_busy = float((loud.arrays[0][..., 0].sum(-1) >= 2).mean())
    assert quiet.stats["boosted_steps"] == 0
    assert loud.stats["boosted_steps"] > 50
    assert loud_busy > 0.1
    assert loud_busy > 4 * quiet_busy


def test_hold_guard_releases_endless_notes() -> None:
    model, rep = _biaxial(8.0), NoteState()  # every note plays with P ~ 1
    with torch.no_grad():
        model.output.bias[1] = -8.0  # ... and is never re-articulated
    result = generate(model, rep, None, GenerationConfig(length=60, max_hold_steps=16, seed=0))
    play = result.arrays[0][..., 0].astype(bool)
    struck = result.arrays[0][..., 1].astype(bool)
    longest = 0  # longest time a note sounds without being struck again
    for note in range(play.shape[1]):
        run = 0
        for on, again in zip(play[:, note], struck[:, note], strict=True):
            run = 1 if (on and again) else (run + 1 if on else 0)
            longest = max(longest, run)
    assert longest <= 16
    assert result.stats["forced_releases"] > 0


def _loud_pianoroll() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(get_preset("pianoroll-debug"))
    with torch.no_grad():
        model.output.weight.zero_()  # type: ignore[union-attr, operator]
        model.output.bias.fill_(8.0)  # type: ignore[union-attr, operator]  # every key P ~ 1
    return model.eval()


def _longest_run(roll: np.ndarray) -> int:
    """Longest number of frames any key stays on without a silent frame."""
    longest = 0
    for key in range(roll.shape[1]):
        run = 0
        for on in roll[:, key]:
            run = run + 1 if on else 0
            longest = max(longest, run)
    return longest


def test_pianoroll_hold_guard_releases_keys_held_on() -> None:
    """A piano roll has no articulation: a key on for max_hold_steps frames in a row is let go
    for a frame. (Before, the count restarted on every sounding frame and never fired.)"""
    model, rep = _loud_pianoroll(), PianoRoll()
    result = generate(model, rep, None, GenerationConfig(length=60, max_hold_steps=16, seed=0))
    roll = result.arrays[0][1:]
    assert _longest_run(roll) == 16
    assert result.stats["forced_releases"] > 88 * 2  # about 3 releases per key in 60 frames
    free = generate(model, rep, None, GenerationConfig(length=60, max_hold_steps=0, seed=0))
    assert _longest_run(free.arrays[0][1:]) == 60 and free.stats["forced_releases"] == 0


def test_generate_cli_can_turn_the_hold_guard_off(tmp_path: Path) -> None:
    """``--max-hold-steps 0`` reproduces the original rule (no release)."""
    from cadenza.checkpoint import save_checkpoint

    run = tmp_path / "run"
    model = _loud_pianoroll()
    save_checkpoint(run, model, PianoRoll(), {"preset": "pianoroll-debug"})
    pieces = {}
    for hold in (0, 16):
        result = runner.invoke(app, ["generate", str(run), "--no-primer", "--length", "40",
                                     "--seed", "1", "--max-hold-steps", str(hold), "--stats",
                                     "--out", str(tmp_path / f"out{hold}")])
        assert result.exit_code == 0, result.output
        pieces[hold] = result.output
    assert "forced_releases 0" in pieces[0]
    assert "forced_releases 0" not in pieces[16]


def test_biaxial_beat_counts_from_the_primers_place_in_its_bar() -> None:
    """A primer cut at its first sound mid-bar (an anacrusis at step 12) feeds the model the
    beat of step 12, not 0: the features equal those of the same steps taken in place."""
    rep = NoteState()
    seen: list[np.ndarray] = []
    model = _biaxial(0.0)
    original_step = model.step

    def spy(inputs: torch.Tensor, state: object, **kwargs: object) -> object:
        seen.append(inputs.numpy().copy())
        return original_step(inputs, state, **kwargs)

    model.step = spy  # type: ignore[method-assign]
    notes = make_notes([12, 16, 20], [4, 4, 4], [60, 64, 67])
    score = Score(notes, 4, time_signatures=(TimeSignature(0, 4, 4),), name="anacrusis")
    from cadenza.generation.primerbank import Primer, encode_primer

    primer, first_step = encode_primer(Primer("a", None, score, "a.mid"), rep, 8)
    assert first_step == 12
    generate(model, rep, primer, GenerationConfig(length=4, seed=0, first_step=first_step))
    whole = rep.encode(score)
    expected = rep.input_features(whole[12:23], first_step=12)  # the steps as they lie
    got = np.concatenate(seen)[:11]
    np.testing.assert_array_equal(got[..., 75:79], expected[..., 75:79])  # the beat inputs
    assert not np.array_equal(got[..., 75:79], rep.input_features(whole[12:23])[..., 75:79])


def test_composed_piece_keeps_the_primers_place_in_the_bar(tmp_path: Path) -> None:
    """Decoded output of an anacrusis primer starts at the primer's step in its bar."""
    from cadenza.generation.decoding import result_to_score

    rep = NoteState()
    model = _biaxial(-6.0)
    primer = np.zeros((4, rep.feature_shape[0], 2), dtype=np.uint8)
    primer[0, 36] = (1, 1)  # one note at the primer's first step
    result = generate(model, rep, primer, GenerationConfig(length=8, seed=0, first_step=28))
    score = result_to_score(result, 0, rep)
    assert int(score.notes["start"].min()) == 28 % 16
    assert score.markers[0].tick == 12 + 4  # generation starts after the 4 primer steps


def _tiny_scores(count: int = 4) -> list[Score]:
    scores = []
    for k in range(count):
        starts = np.arange(0, 96, 2)
        pitches = 60 + k + (np.arange(len(starts)) * 5) % 12
        scores.append(Score(make_notes(starts, np.full(len(starts), 2), pitches), 4,
                            time_signatures=(TimeSignature(0, 4, 4),), name=f"t{k}"))
    return scores


@pytest.mark.parametrize("preset", ["biaxial-debug", "pianoroll-debug", "events-debug",
                                    "notetokens-debug"])
def test_every_family_generates_reproducibly(preset: str) -> None:
    scores = _tiny_scores()
    config = get_preset(preset)
    rep = {"biaxial": NoteState, "pianoroll": PianoRoll, "events": Events,
           "notetokens": NoteTokens}[config.family]()
    if config.family == "events":
        rep = Events(type(rep.config)(steps_per_quarter=4))
    rep.fit(scores)
    torch.manual_seed(0)
    model = build_model(fit_config(config, rep)).eval()
    primer = rep.encode(scores[0])[:12]
    settings = GenerationConfig(length=20, count=3, seed=5)
    first = generate(model, rep, primer, settings)
    again = generate(model, rep, primer, settings)
    other = generate(model, rep, primer, GenerationConfig(length=20, count=3, seed=6))
    assert len(first.arrays) == 3 and first.primer_length == 12
    for a, b in zip(first.arrays, again.arrays, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a[:12], primer)
        assert len(a) == 32
    assert any(not np.array_equal(a, b) for a, b in zip(first.arrays, other.arrays, strict=True))
    rep.decode(first.arrays[0])  # decodable


@pytest.mark.parametrize("bad", [{"length": 0}, {"length": 10**6}, {"count": 0},
                                 {"temperature": 0.0}, {"threshold": 1.0}, {"top_p": 0.0}])
def test_bad_generation_settings(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        GenerationConfig(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [{"bars": 0}, {"bars": 100_000}, {"count": 0},
                                 {"bpm": 1.0}, {"composer": "Bach", "no_primer": True}])
def test_bad_compose_requests(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ComposeRequest(**bad)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pianoroll-debug run trained for a few steps on a folder with composer subfolders."""
    root = tmp_path_factory.mktemp("corpus")
    for composer in ("Alpha", "Beta"):
        offset = 0 if composer == "Alpha" else 12
        for index, score in enumerate(_tiny_scores(12)):
            score = score.transpose(offset - 6)
            write_midi(score, root / composer / f"{composer.lower()}_{index}.mid")
    experiment = prepare_experiment("pianoroll-debug", root, workers=1, use_cache=False,
                                    progress=False)
    run = tmp_path_factory.mktemp("run") / "run"
    config = TrainConfig(steps=4, eval_every=0, sample_every=0, checkpoint_every=4,
                         device="cpu", log_every=0)
    Trainer(experiment.model, experiment.representation, experiment.train_batches,
            experiment.valid_batches, config, run, experiment.run_info(config.to_dict()),
            primers=corpus_primers(experiment.corpus)).fit()
    return run


def test_a_checkpoint_carries_its_primers(
    debug_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's held-out pieces travel inside every checkpoint: a copied checkpoint composes
    from them, by composer, without rebuilding (or even having) the training corpus."""
    checkpoint = next((debug_run / "checkpoints").glob("step-*"))
    index = json.loads((checkpoint / "primers" / "index.json").read_text())
    assert index and {entry["composer"] for entry in index} <= {"Alpha", "Beta"}
    copy = shutil.copytree(checkpoint, tmp_path / "copied")

    def no_corpus(*args: object, **kwargs: object) -> None:
        raise AssertionError("composing rebuilt the training corpus")

    monkeypatch.setattr("cadenza.generation.primerbank.build_corpus", no_corpus)
    listed = runner.invoke(app, ["generate", str(copy), "--list-composers"])
    assert listed.exit_code == 0, listed.output
    assert set(listed.output.split()) == {entry["composer"] for entry in index}
    made = runner.invoke(app, ["generate", str(copy), "--bars", "1", "--random-primer",
                               "--out", str(tmp_path / "out")])
    assert made.exit_code == 0, made.output
    assert len(list((tmp_path / "out").glob("*.mid"))) == 1


def _primer_line(output: str) -> str:
    """The ``primer:`` line of ``cadenza generate``'s output, whitespace normalised."""
    text = " ".join(output.split())
    return text[text.index("primer: "):text.index(" seed: ")]


def test_a_run_that_held_out_no_piece_primes_from_training_pieces_else_silence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28: a run trained on a folder too small for a generation split could not compose
    by default ("no generation piece to use as a primer"). It primes from its training pieces
    (saved with the run, or rebuilt from its corpus) and says so; with no piece at all, from
    silence, and says so; a composer asked for is still refused."""
    from debug_run import make_debug_run

    monkeypatch.setenv("CADENZA_CACHE_DIR", str(tmp_path / "cache"))
    run = make_debug_run(tmp_path / "made", steps=2, cache_dir=tmp_path / "cache",
                         generation_pieces=0)
    index = json.loads((run / "primers" / "index.json").read_text())
    assert index and all(entry["held_out"] is False for entry in index)

    def compose_with(folder: Path, *extra: str) -> str:
        made = runner.invoke(app, ["generate", str(folder), "--bars", "1", "--seed", "1",
                                   "--out", str(tmp_path / "out"), *extra])
        assert made.exit_code == 0, made.output
        return _primer_line(made.output)

    saved = compose_with(run)
    assert "corpus" in saved and "a training piece: the run holds out no generation piece" in saved
    old = shutil.copytree(run, tmp_path / "old")  # a run made before primers were saved
    for folder in [old / "primers", *old.glob("checkpoints/*/primers")]:
        shutil.rmtree(folder)
    assert "a training piece" in compose_with(old)
    gone = shutil.copytree(old, tmp_path / "gone")
    shutil.rmtree(tmp_path / "made" / "corpus")  # ... whose training data is gone
    assert compose_with(gone) == ("primer: none (silence: the run keeps no held-out or "
                                  "training piece to prime with)")
    refused = runner.invoke(app, ["generate", str(gone), "--composer", "Bach", "--out",
                                  str(tmp_path / "out")])
    assert refused.exit_code == 2 and "is not here" in refused.output


def test_cli_generate_writes_midi_with_marker(debug_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["generate", str(debug_run), "--bars", "2", "--out", str(out), "--seed", "3",
            "--count", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.mid"))
    assert len(files) == 2
    score = read_midi(files[0])
    assert any(m.text.startswith("cadenza: generated") for m in score.markers)
    again = runner.invoke(app, args)  # never overwrites: new names
    assert again.exit_code == 0
    assert len(list(out.glob("*.mid"))) == 4
    first = files[0]  # same seed, same request: the same music under a new name
    second = first.with_name(f"{first.stem}-2.mid")
    assert second.is_file()
    assert read_midi(first).notes.tolist() == read_midi(second).notes.tolist()


def test_cli_generate_lists_composers(debug_run: Path) -> None:
    result = runner.invoke(app, ["generate", str(debug_run), "--list-composers"])
    assert result.exit_code == 0
    listed = set(result.output.split())
    assert listed and listed <= {"Alpha", "Beta"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--composer", "Nobody"], "unknown composer"),
        (["--bars", "0"], "bars must be"),
        (["--bars", "999999"], "bars must be"),
        (["--temperature", "0"], "temperature"),
    ],
)
def test_cli_generate_bad_arguments(debug_run: Path, tmp_path: Path, args: list[str],
                                    message: str) -> None:
    result = runner.invoke(app, ["generate", str(debug_run), "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_generate_missing_checkpoint(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such checkpoint" in result.output


def test_shipped_model_names_work_where_checkpoints_do(tmp_path: Path) -> None:
    """``cadenza generate pianoroll-piano`` (a shipped name, not a path) composes."""
    result = runner.invoke(app, ["generate", "pianoroll-piano", "--no-primer", "--length", "8",
                                 "--seed", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert list(tmp_path.glob("*.mid"))
    missing = runner.invoke(app, ["generate", "no-such-model", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "biaxial-piano" in missing.output  # names the choices


def test_a_single_grid_piece_is_generated_on_one_thread(tmp_path: Path) -> None:
    """Batch-1 grid walks run on one torch thread; the caller's setting comes back after."""
    from cadenza.composing import compose

    seen: list[int] = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        request = ComposeRequest(checkpoint="pianoroll-piano", out_dir=tmp_path, no_primer=True,
                                 length=4, seed=1,
                                 progress=lambda done, total: seen.append(torch.get_num_threads()))
        compose(request)
        assert set(seen) == {1} and torch.get_num_threads() == 2
        seen.clear()
        compose(ComposeRequest(checkpoint="pianoroll-piano", out_dir=tmp_path, no_primer=True,
                               length=4, seed=1, count=2, progress=request.progress))
        assert set(seen) == {2}  # a batch keeps the threads it was given
    finally:
        torch.set_num_threads(before)


def test_generate_into_a_file_gives_a_one_line_error(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine")
    result = runner.invoke(app, ["generate", "pianoroll-piano", "--no-primer", "--length", "4",
                                 "--out", str(taken)])
    assert result.exit_code == 2 and "is not a folder" in result.output
    assert taken.read_text() == "mine"


def test_every_piece_can_be_made_again_from_its_sidecar(tmp_path: Path) -> None:
    """No --seed: a seed is drawn, printed, put in the MIDI and in NAME.json; --replay
    makes the same notes."""
    first = runner.invoke(app, ["generate", "biaxial-piano", "--bars", "1", "--random-primer",
                                "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    (midi,) = (tmp_path / "a").glob("*.mid")
    sidecar = midi.with_suffix(".json")
    record = json.loads(sidecar.read_text())
    seed = record["settings"]["seed"]
    assert isinstance(seed, int) and f"seed: {seed}" in first.output
    assert record["weights_sha256"] and record["checkpoint"].endswith("biaxial-piano")
    assert any(m.text == f"cadenza seed {seed}" for m in read_midi(midi).markers)
    again = runner.invoke(app, ["generate", "--replay", str(sidecar), "--out",
                                str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    (replayed,) = (tmp_path / "b").glob("*.mid")
    np.testing.assert_array_equal(read_midi(replayed).notes, read_midi(midi).notes)
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    refused = runner.invoke(app, ["generate", "--replay", str(bad)])
    assert refused.exit_code == 2 and "not a cadenza sidecar" in refused.output


def test_no_file_of_a_piece_replaces_one_already_there(tmp_path: Path) -> None:
    """A sidecar name already taken (here with the MIDI gone) moves the whole piece on."""
    args = ["generate", "pianoroll-piano", "--no-primer", "--length", "4", "--seed", "1",
            "--out", str(tmp_path)]
    assert runner.invoke(app, args).exit_code == 0
    (midi,) = tmp_path.glob("*.mid")
    midi.unlink()
    midi.with_suffix(".json").write_text("mine")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert midi.with_suffix(".json").read_text() == "mine" and not midi.exists()
    (new,) = tmp_path.glob("*.mid")
    assert new.stem == f"{midi.stem}-2" and new.with_suffix(".json").is_file()


def test_files_are_named_after_the_model_and_the_primer(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "biaxial-piano", "--bars", "1", "--seed", "3",
                                 "--composer", "Bach", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (piece,) = tmp_path.glob("*.mid")
    assert piece.name.startswith("biaxial-piano-Bach-")
    silent = runner.invoke(app, ["generate", "pianoroll-piano", "--no-primer", "--length", "4",
                                 "--out", str(tmp_path / "s")])
    assert silent.exit_code == 0
    assert [p.name for p in (tmp_path / "s").glob("*.mid")] == ["pianoroll-piano-silence.mid"]


def test_models_lists_shipped_models_and_runs(tmp_path: Path) -> None:
    from cadenza.checkpoint import save_checkpoint

    model = build_model(get_preset("pianoroll-debug"))
    save_checkpoint(tmp_path / "runs" / "mine" / "checkpoints" / "step-000005", model,
                    PianoRoll(), {"preset": "pianoroll-debug", "step": 5})
    (tmp_path / "runs" / "mine" / "latest.json").write_text(
        json.dumps({"checkpoint": "checkpoints/step-000005", "step": 5}))
    result = runner.invoke(app, ["models", "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "biaxial-piano" in result.output and "shipped" in result.output
    assert "mine" in result.output and "pianoroll-debug" in result.output
    assert "biaxial-paper" in result.output  # the presets follow


def test_output_to_a_file_or_pipe_is_not_wrapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 28: off a terminal (a log file, a pipe, CliRunner) rich cut lines at 80 columns,
    mid-phrase; printed lines and log records now stay one line each."""
    import logging

    from cadenza.cli.app import setup_logging

    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / ("a-long-folder-name-" * 5)
    result = runner.invoke(app, ["generate", "pianoroll-piano", "--no-primer", "--bars", "1",
                                 "--seed", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert ("seed: 7 (the .json beside each piece replays it: cadenza generate --replay "
            "FILE.json)") in lines
    assert f"wrote {out / 'pianoroll-piano-silence.mid'}" in lines
    setup_logging(False)
    message = ("a long warning that goes on " * 8).strip()
    logging.getLogger("cadenza.test").warning(message)
    assert capsys.readouterr().err.splitlines() == [f"WARNING  {message}"]


@pytest.mark.parametrize("command", [[], ["generate"], ["cache"], ["cache", "clear"]])
def test_help_shows_boolean_flags_as_plain_flags(command: list[str]) -> None:
    """Issue 28: the help showed ``--verbose <bool>`` (every flag, --help too) as if a flag
    took a value; options that do take one keep their type."""
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output and "<bool>" not in result.output
    if command == ["generate"]:
        row = next(line for line in result.output.splitlines() if "--bars" in line)
        assert "<int>" in row
        assert "--wav" in result.output


def test_flags_still_switch_on(tmp_path: Path) -> None:
    result = runner.invoke(app, ["-v", "generate", "pianoroll-piano", "--no-primer", "--bars",
                                 "1", "--seed", "1", "--stats", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "guards:" in result.output  # --stats


def test_models_shows_the_steps_a_model_was_trained_for_in_all(tmp_path: Path) -> None:
    """Issue 28: biaxial-piano was listed at "step 1250", its last run's step, while it was
    trained for 19,750 steps in all (its card; the web page already said so)."""
    from cadenza.shipped import model_card, shipped_models, training_steps

    result = runner.invoke(app, ["models", "--runs", str(tmp_path / "none")])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "biaxial-piano" in line)
    assert "19,750" in row and "1250" not in row and "1,250" not in row
    info = {"step": 1250}
    assert training_steps(info, model_card("biaxial-piano")) == 19_750
    assert training_steps(info, {}) == 1250  # a run: its checkpoint's step
    assert "biaxial-piano" in shipped_models()


def test_a_model_brings_its_calibrated_threshold(tmp_path: Path) -> None:
    """pianoroll-piano's config.json sets its piano-roll floor; a request without
    --threshold uses it, an explicit one overrides it."""
    from cadenza.api import compose

    def notes(**options: object) -> list[tuple[int, ...]]:
        piece = compose("pianoroll-piano", bars=2, no_primer=True, seed=5, **options)
        return [tuple(row) for row in piece.score.notes.tolist()]

    assert notes() == notes(threshold=0.02)
    assert notes() != notes(threshold=0.1)


def test_a_model_carries_its_calibrated_temperature(tmp_path: Path) -> None:
    """Without a temperature the model's calibrated one is used (config.json "generation"),
    in composing and in the model list the web page offers first."""
    from cadenza.composing import compose
    from cadenza.shipped import models_dir
    from cadenza.web.catalog import ModelCatalog

    folder = tmp_path / "models" / "calibrated"
    shutil.copytree(models_dir() / "biaxial-piano", folder)
    info = json.loads((folder / "config.json").read_text())
    info["generation"] = {**info.get("generation", {}), "temperature": 0.6}
    info.pop("shipped_name", None)
    (folder / "config.json").write_text(json.dumps(info))

    def notes(checkpoint: Path | str, **options: object) -> np.ndarray:
        request = ComposeRequest(checkpoint=str(checkpoint), out_dir=tmp_path, bars=2, seed=5,
                                 no_primer=True, write_files=False, **options)  # type: ignore[arg-type]
        return compose(request).pieces[0].score.notes

    calibrated = notes(folder)
    assert np.array_equal(calibrated, notes("biaxial-piano", temperature=0.6))
    assert not np.array_equal(calibrated, notes(folder, temperature=1.0))
    catalog = ModelCatalog(tmp_path / "models", include_shipped=False)
    described = [catalog.describe(entry) for entry in catalog.entries()]
    assert [d["temperature"] for d in described] == [0.6]


def test_the_help_lists_every_command_without_loading_torch() -> None:
    """``cadenza --help`` imports no command module (it once took 10 s on a busy machine,
    most of it torch); its one-line summaries are the commands' own."""
    import subprocess
    import sys

    code = ("import sys\nfrom typer.testing import CliRunner\nfrom cadenza.cli import app\n"
            "result = CliRunner().invoke(app, ['--help'])\n"
            "assert result.exit_code == 0, result.output\n"
            "print('torch' in sys.modules, 'export' in result.output)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "COLUMNS": "200"})
    assert out.stdout.split() == ["False", "True"]

    import importlib

    import typer.main

    from cadenza.cli.app import COMMANDS, app

    for module, _ in COMMANDS.values():
        importlib.import_module(f"cadenza.cli.{module}")
    group = typer.main.get_command(app)
    for name, (_, summary) in COMMANDS.items():
        command = group.commands[name]  # type: ignore[attr-defined]
        own = " ".join((command.help or "").split("\n\n")[0].split())
        assert own == summary, name
