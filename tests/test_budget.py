"""Model sizes, settings and threads are checked before anything is allocated."""

from __future__ import annotations

import json
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from debug_run import arpeggio_piece
from typer.testing import CliRunner

from cadenza.budget import (
    BUILT_LAYERS,
    activation_bytes,
    check_training_memory,
    count_parameters,
)
from cadenza.checkpoint import load_checkpoint, save_checkpoint
from cadenza.cli import app
from cadenza.cli.options import model_overrides, set_threads
from cadenza.errors import CheckpointError, ConfigError
from cadenza.experiment import make_representation, prepare_experiment
from cadenza.families import FAMILIES
from cadenza.machine import capped_threads, torch_threads, usable_cores
from cadenza.midi import write_midi
from cadenza.models.registry import all_presets, build_model, fit_config, get_preset

GB = 10**9
SMALL_MACHINE = (8 * GB, 16 * GB)  # (available, total) bytes


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve 8-bar arpeggio pieces: enough for a training and a validation split."""
    folder = tmp_path_factory.mktemp("midi")
    for i in range(12):
        write_midi(arpeggio_piece(48 + i, 100.0, f"p{i}"), folder / f"p{i}.mid")
    return folder


def test_an_absurd_width_is_refused_in_one_line_before_allocating(
        midi_folder: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    result = CliRunner().invoke(app, [
        "train", "-m", "pianoroll-small", "--data", str(midi_folder), "--no-progress",
        "--set", "hidden_sizes=[1000000000]", "--out", str(tmp_path / "run")])
    seconds = time.perf_counter() - started
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1, result.output
    assert lines[0].startswith("error: --set hidden_sizes=[1000000000] needs at least ")
    assert "this machine has" in lines[0] and "Traceback" not in result.output
    assert seconds < 60  # no allocation, no data read: a bound generous for a busy machine


@pytest.mark.parametrize(("preset", "overrides", "label"), [
    ("pianoroll-small", {"hidden_sizes": (100000, 100000, 100000)},
     "--set hidden_sizes=[100000,100000,100000]"),
    ("biaxial-small", {"time_sizes": (100000, 100000)}, "--set time_sizes=[100000,100000]"),
    ("transformer-small", {"d_model": 1_000_000_000, "num_heads": 1},
     "--set d_model=1000000000"),
    ("transformer-small", {"num_layers": 100_000}, "--set num_layers=100000"),
    ("notetokens-small", {"num_layers": 100_000}, "--set num_layers=100000"),
    ("events-small", {"lstm_layers": 100_000}, "--set lstm_layers=100000"),
    ("pianoroll-small", {"batch_size": 1_000_000_000}, "--batch-size 1000000000"),
    ("biaxial-small", {"seq_len": 10_000_000, "dropout": 0.1}, "--seq-len 10000000"),
], ids=lambda value: str(value)[:30])
def test_every_growing_setting_is_named_with_its_size(
        preset: str, overrides: dict[str, Any], label: str) -> None:
    sets = [f"{key}={json.dumps(value)}" for key, value in overrides.items()
            if key not in ("batch_size", "seq_len")]
    parsed, labels = model_overrides(sets, batch_size=overrides.get("batch_size"),
                                     seq_len=overrides.get("seq_len"))
    config = replace(get_preset(preset), **parsed)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        check_training_memory(config, preset=preset, preset_config=get_preset(preset),
                              overrides=parsed, labels=labels, memory=SMALL_MACHINE)
    message = str(caught.value)
    assert message.startswith(f"{label} needs ") and "\n" not in message
    assert "to train (" in message and "this machine has 8.0 GB available (16 GB in all)" in message
    assert "dropout" not in message and "num_heads" not in message  # they grow nothing
    assert time.perf_counter() - started < 10  # a million layers are not built one by one


def test_a_preset_that_does_not_fit_is_named() -> None:
    config = get_preset("transformer-paper")
    with pytest.raises(ConfigError, match=r"^model transformer-paper needs .* of activations"):
        check_training_memory(config, preset="transformer-paper", memory=SMALL_MACHINE)
    need = check_training_memory(get_preset("biaxial-small"), preset="biaxial-small",
                                 memory=SMALL_MACHINE)
    assert need.parameters == build_model(get_preset("biaxial-small")).num_parameters()


@pytest.mark.parametrize("name", sorted(all_presets()))
def test_parameters_are_counted_exactly_without_allocating(name: str) -> None:
    config = get_preset(name)
    assert count_parameters(config) == (build_model(config).num_parameters(), True)


@pytest.mark.parametrize(("preset", "field"), [
    ("transformer-debug", "num_layers"), ("notetokens-debug", "num_layers"),
    ("events-debug", "lstm_layers")])
def test_deep_stacks_are_counted_from_two_layers_exactly(preset: str, field: str) -> None:
    config = replace(get_preset(preset), **{field: BUILT_LAYERS + 3})
    assert count_parameters(config) == (build_model(config).num_parameters(), True)


def _saved_bytes(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Bytes of the distinct storages autograd keeps for one training step's backward."""
    storages: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        loss, _ = model.loss(batch)  # type: ignore[operator]
    loss.backward()
    return sum(storages.values())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_activation_estimates_are_near_the_measured_bytes(family: str, midi_folder: Path
                                                          ) -> None:
    experiment = prepare_experiment(f"{family}-debug", midi_folder, progress=False, seed=0,
                                    workers=1)
    batch = experiment.train_batches.training_batch(np.random.default_rng(0))
    measured = _saved_bytes(experiment.model, batch)
    estimate = activation_bytes(experiment.model.config)
    assert 0.5 < estimate / measured < 2.5, (estimate, measured)


def test_fitted_and_unknown_keys_are_refused_naming_the_settable_ones(midi_folder: Path
                                                                      ) -> None:
    with pytest.raises(ConfigError) as caught:
        prepare_experiment("transformer-debug", midi_folder, overrides={"vocab_size": 5},
                           progress=False)
    message = str(caught.value)
    assert message.startswith("--set vocab_size=5: a transformer model's vocab_size comes from "
                              "the data")
    assert "settable: batch_size, d_ff, d_model," in message and "vocab_size," not in message
    with pytest.raises(ConfigError, match=r"^--set vocabsize=5: pianoroll-debug has no setting "
                                          r"'vocabsize'; settable: batch_size, clip_mode"):
        prepare_experiment("pianoroll-debug", midi_folder, overrides={"vocabsize": 5},
                           progress=False)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_fitted_fields_are_those_the_data_fills_in(family: str, midi_folder: Path) -> None:
    """A field is "fitted" when fitting the config to a representation replaces its value."""
    experiment = prepare_experiment(f"{family}-debug", midi_folder, progress=False, workers=1)
    config = experiment.model.config
    replaced = set()
    for field in fields(config):
        value = getattr(config, field.name)
        if type(value) is not int:
            continue
        try:
            changed = replace(config, **{field.name: value + 1})
        except ConfigError:  # e.g. num_heads must divide d_model
            continue
        if getattr(fit_config(changed, experiment.representation), field.name) != value + 1:
            replaced.add(field.name)
    record = FAMILIES[family]
    assert replaced == set(record.fitted_fields) | set(record.shared_fields)


def test_the_cli_refuses_an_ignored_setting_in_one_line(midi_folder: Path,
                                                        tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "train", "-m", "biaxial-debug", "--data", str(midi_folder), "--no-progress",
        "--set", "num_notes=100", "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1
    assert "num_notes comes from the data" in result.output and "velocity_bins" in result.output


def _pianoroll_checkpoint(folder: Path) -> Path:
    config = get_preset("pianoroll-debug")
    representation = make_representation(config.family)
    return save_checkpoint(folder / "step-1", build_model(config), representation,
                           {"preset": "pianoroll-debug"})


def test_a_checkpoint_declaring_a_deep_stack_is_refused_at_once(tmp_path: Path) -> None:
    checkpoint = _pianoroll_checkpoint(tmp_path)
    info = json.loads((checkpoint / "config.json").read_text())
    info["model"]["hidden_sizes"] = [8] * 5000
    (checkpoint / "config.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match=r"config\.json: hidden_sizes lists 5,000 layers"):
        load_checkpoint(checkpoint)


def test_a_checkpoint_larger_than_the_memory_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = _pianoroll_checkpoint(tmp_path)
    assert load_checkpoint(checkpoint).model.num_parameters() > 0
    monkeypatch.setattr("cadenza.budget.memory_bytes", lambda: (1000, 2000))
    with pytest.raises(CheckpointError, match=r"config\.json: its model needs 0\.0 MB of weights "
                                              r"\([\d,]+ parameters\); this machine has 0\.0 MB"):
        load_checkpoint(checkpoint)


def test_threads_are_capped_at_the_cores_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    saved = torch.get_num_threads()
    cores = usable_cores()
    try:
        set_threads(100_000)
        assert torch.get_num_threads() == cores
        assert f"--threads 100000: this machine has {cores} cores" in capsys.readouterr().err
        with torch_threads(300):
            assert torch.get_num_threads() == cores
        set_threads(1)
        assert torch.get_num_threads() == 1 and capsys.readouterr().err == ""
    finally:
        torch.set_num_threads(saved)
    assert capped_threads(cores) == (cores, None)
    with pytest.raises(ConfigError, match="--threads must be >= 1, got 0"):
        capped_threads(0)


def test_benchmark_refuses_a_preset_before_any_trains(tmp_path: Path) -> None:
    """The preset that cannot take a setting is named first; the others still run."""
    steps = [[60, 64, 67], [62, 65], [], [59, 62, 67]] * 6
    data = tmp_path / "chorales.json"
    data.write_text(json.dumps({"train": [steps] * 4, "valid": [steps], "test": [steps]}))
    result = CliRunner().invoke(app, [
        "benchmark", "--dataset", str(data), "-m", "pianoroll-debug", "-m", "transformer-debug",
        "--set", "hidden_sizes=[8]", "--steps", "2", "--eval-every", "2", "--threads", "1",
        "--out", str(tmp_path / "out")])
    refusal = ("error: transformer-debug: --set hidden_sizes=[8]: transformer-debug has no "
               "setting 'hidden_sizes'")
    assert result.exit_code != 0 and result.output.startswith(refusal), result.output
    assert "not trained" in result.output and "1 of 2 model(s) failed" in result.output
    (report,) = (tmp_path / "out").glob("*.json")
    assert [row["model"] for row in json.loads(report.read_text())["results"]] == [
        "pianoroll-debug"]
