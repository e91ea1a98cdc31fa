"""The training loop and checkpoints: resume equivalence, save/load, damaged files."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cadenza.checkpoint import init_from, load_checkpoint, resolve_checkpoint, write_pointer
from cadenza.data.batching.pianoroll import PianoRollBatchMaker
from cadenza.errors import CheckpointError, ConfigError
from cadenza.midi import write_midi
from cadenza.models.registry import build_model, get_preset
from cadenza.representations import PianoRoll
from cadenza.representations.pianoroll import PianoRollConfig
from cadenza.runfolder import remove_leftovers
from cadenza.training import (
    LoopState,
    TrainConfig,
    Trainer,
    autocast_dtype,
    lr_factor,
    native_bf16,
)


def _rolls(count: int = 6, length: int = 80, seed: int = 0) -> list[np.ndarray]:
    """Simple learnable rolls: arpeggios with a held bass, random transpositions."""
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(count):
        roll = np.zeros((length, 88), dtype=np.uint8)
        base = int(rng.integers(20, 40))
        for t in range(length):
            roll[t, base + (0, 4, 7, 12)[t % 4]] = 1
            roll[t, base - 12] = 1
        rolls.append(roll)
    return rolls


def _trainer(run_dir: Path, steps: int, **overrides: object) -> Trainer:
    torch.manual_seed(0)
    config = get_preset("pianoroll-debug")
    model = build_model(config)
    rep = PianoRoll()
    train = PianoRollBatchMaker(_rolls(), rep, batch_size=4, seq_len=16)
    valid = PianoRollBatchMaker(_rolls(2, seed=1), rep, batch_size=4, seq_len=16)
    settings = dict(steps=steps, log_every=1, eval_every=2, checkpoint_every=3,
                    sample_every=0, device="cpu", lr=3e-3)
    settings.update(overrides)
    cfg = TrainConfig(**settings)  # type: ignore[arg-type]
    info = {"preset": "pianoroll-debug"}
    return Trainer(model, rep, train, valid, cfg, run_dir, info)


def _train_losses(run_dir: Path) -> list[float]:
    with open(run_dir / "log.csv", newline="") as handle:
        return [float(r["loss"]) for r in csv.DictReader(handle) if r["split"] == "train"]


def test_lr_schedules() -> None:
    cfg = TrainConfig(steps=100, schedule="cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(99, cfg) == pytest.approx(0.1, abs=0.01)
    linear = TrainConfig(steps=100, schedule="linear", min_lr_ratio=0.0)
    assert lr_factor(50, linear) == pytest.approx(0.5)
    assert lr_factor(7, TrainConfig(steps=100)) == 1.0
    timed = TrainConfig(steps=1_000_000, schedule="cosine", min_lr_ratio=0.0, max_seconds=60)
    assert lr_factor(10, timed, elapsed=30.0) == pytest.approx(0.5)  # half the time spent
    assert lr_factor(10, timed, elapsed=60.0) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(10, timed) == pytest.approx(1.0, abs=1e-6)  # no clock: steps only


@pytest.mark.parametrize(
    "bad", [{"steps": 0}, {"lr": -1.0}, {"optimizer": "lion"}, {"schedule": "step"},
            {"grad_clip": 0.0}, {"keep_checkpoints": 0}]
)
def test_bad_train_config(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        TrainConfig(**bad)  # type: ignore[arg-type]


def test_training_reduces_validation_loss(tmp_path: Path) -> None:
    summary = _trainer(tmp_path / "run", steps=40, eval_every=10, lr=1e-2).fit()
    assert summary.steps_done == 40
    assert summary.first_valid_loss is not None and summary.best_valid_loss is not None
    assert summary.best_valid_loss < 0.8 * summary.first_valid_loss
    assert (tmp_path / "run" / "best.json").is_file()


def test_resume_reproduces_uninterrupted_losses(tmp_path: Path) -> None:
    _trainer(tmp_path / "full", steps=9).fit()
    full = _train_losses(tmp_path / "full")
    _trainer(tmp_path / "part", steps=6).fit()  # stops after the step-6 checkpoint
    _trainer(tmp_path / "part", steps=9).fit(resume=True)
    resumed = _train_losses(tmp_path / "part")
    assert len(full) == len(resumed) == 9
    np.testing.assert_allclose(resumed, full, rtol=1e-6)


def test_interrupt_saves_and_resume_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trainer(tmp_path / "full", steps=8, checkpoint_every=100).fit()
    full = _train_losses(tmp_path / "full")

    trainer = _trainer(tmp_path / "cut", steps=8, checkpoint_every=100)
    original = trainer.train_batches.training_batch
    calls = {"n": 0}

    def flaky(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return original(rng)

    monkeypatch.setattr(trainer.train_batches, "training_batch", flaky)
    summary = trainer.fit()
    assert summary.interrupted and summary.steps_done == 5
    latest = json.loads((tmp_path / "cut" / "latest.json").read_text())
    assert latest["step"] == 5
    monkeypatch.undo()
    _trainer(tmp_path / "cut", steps=8, checkpoint_every=100).fit(resume=True)
    np.testing.assert_allclose(_train_losses(tmp_path / "cut"), full, rtol=1e-6)


def test_run_folder_is_never_overwritten(tmp_path: Path) -> None:
    _trainer(tmp_path / "run", steps=3).fit()
    with pytest.raises(ConfigError, match="--resume"):
        _trainer(tmp_path / "run", steps=3).fit()


def test_save_load_gives_identical_outputs(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path / "run", steps=3)
    trainer.fit()
    loaded = load_checkpoint(tmp_path / "run")
    batch = next(iter(trainer.valid_batches.eval_batches()))  # type: ignore[union-attr]
    trainer.model.eval()
    with torch.no_grad():
        expected = trainer.model.predict_probs(batch)  # type: ignore[operator]
        got = loaded.model.predict_probs(batch)  # type: ignore[operator]
    torch.testing.assert_close(got, expected)
    assert loaded.step == 3
    assert loaded.representation.to_dict() == PianoRoll().to_dict()


def test_checkpoint_errors(tmp_path: Path) -> None:
    _trainer(tmp_path / "run", steps=3).fit()
    ckpt = resolve_checkpoint(tmp_path / "run")
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(ckpt, expect=get_preset("pianoroll-small"))
    weights = ckpt / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_checkpoint(ckpt)
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json"):
        load_checkpoint(ckpt)


def test_damaged_weights_without_hash_are_still_refused(tmp_path: Path) -> None:
    _trainer(tmp_path / "run", steps=3).fit()
    ckpt = resolve_checkpoint(tmp_path / "run")
    info = json.loads((ckpt / "config.json").read_text())
    info.pop("weights_sha256")
    (ckpt / "config.json").write_text(json.dumps(info))
    (ckpt / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_checkpoint(ckpt)


def test_resume_with_other_model_is_refused(tmp_path: Path) -> None:
    _trainer(tmp_path / "run", steps=3).fit()
    trainer = _trainer(tmp_path / "run", steps=6)
    trainer.model.config = get_preset("pianoroll-small")
    with pytest.raises(CheckpointError, match="differs"):
        trainer.fit(resume=True)


def _first_update(tmp_path: Path, **overrides: object) -> list[torch.Tensor]:
    """Parameter changes of one SGD step (momentum's first step is the plain gradient)."""
    trainer = _trainer(tmp_path, steps=1, optimizer="sgd", lr=1.0, eval_every=0,
                       checkpoint_every=0, **overrides)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.fit()
    return [p.detach() - b for p, b in zip(trainer.model.parameters(), before, strict=True)]


def test_clip_modes(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path / "run", steps=1)
    assert trainer.grad_clip == 30.0 and trainer.clip_mode == "value"  # RNN4Music's rule
    own = _trainer(tmp_path / "own", steps=1, grad_clip=1.0)
    assert own.grad_clip == 1.0 and own.clip_mode == "norm"
    with pytest.raises(ConfigError):
        TrainConfig(clip_mode="sideways")


def test_clipping_bounds_the_gradients_used(tmp_path: Path) -> None:
    """Value mode caps every element at the bound, norm mode scales the whole gradient to it."""
    free = _first_update(tmp_path / "free", grad_clip=1e6)
    assert max(float(d.abs().max()) for d in free) > 1e-3  # so the bounds below bite
    by_value = _first_update(tmp_path / "value", grad_clip=1e-3, clip_mode="value")
    assert max(float(d.abs().max()) for d in by_value) == pytest.approx(1e-3, rel=1e-4)
    by_norm = _first_update(tmp_path / "norm", grad_clip=1e-3, clip_mode="norm")
    norm = float(torch.sqrt(sum((d.double() ** 2).sum() for d in by_norm)))
    assert norm == pytest.approx(1e-3, rel=1e-3)
    for clipped, raw in zip(by_norm, free, strict=True):  # same direction, only shorter
        if float(raw.abs().max()) > 0:
            cosine = F.cosine_similarity(clipped.flatten().double(), raw.flatten().double(), 0)
            assert float(cosine) > 0.999


def test_adadelta_is_the_originals_on_the_summed_cost(tmp_path: Path) -> None:
    """lr 1, rho 0.95, eps 1e-6 on the summed cost: the first step moves each weight by
    about sqrt(eps) / sqrt((1 - rho) g^2 + eps) * g, with g the summed cost's gradient."""
    trainer = _trainer(tmp_path / "run", steps=1, optimizer="adadelta", lr=1.0,
                       eval_every=0, checkpoint_every=0, grad_clip=1e9, precision="fp32")
    model = trainer.model
    batch = trainer.train_batches.training_batch(np.random.default_rng(trainer.config.seed))
    loss, _ = model.loss(batch)
    grads = torch.autograd.grad(loss * model.summed_cost_terms(batch),
                                [p for p in model.parameters()])
    before = [p.detach().clone() for p in model.parameters()]
    trainer.fit()
    for p, b, g in zip(model.parameters(), before, grads, strict=True):
        expected = -(1e-6 ** 0.5) / torch.sqrt(0.05 * g * g + 1e-6) * g
        torch.testing.assert_close(p.detach() - b, expected, atol=2e-7, rtol=1e-2)
    frames = batch["targets"].shape[0] * batch["targets"].shape[1]
    assert model.summed_cost_terms(batch) == frames


def test_init_from_copies_weights_and_checks_fit(tmp_path: Path) -> None:
    trained = _trainer(tmp_path / "run", steps=3)
    trained.fit()
    fresh = build_model(get_preset("pianoroll-debug"))
    source = init_from(fresh, tmp_path / "run", PianoRoll())
    assert source == resolve_checkpoint(tmp_path / "run")
    for key, value in trained.model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)
    with pytest.raises(CheckpointError, match="representation differs"):
        init_from(build_model(get_preset("pianoroll-debug")), tmp_path / "run",
                  PianoRoll(PianoRollConfig(steps_per_quarter=2)))
    with pytest.raises(CheckpointError, match="shape"):
        init_from(build_model(get_preset("pianoroll-small")), tmp_path / "run")
    with pytest.raises(CheckpointError, match="cannot initialise"):
        init_from(build_model(get_preset("biaxial-debug")), tmp_path / "run")


def test_init_from_a_shipped_model_by_name() -> None:
    """The weights that arrive are the shipped file's, read here on their own."""
    from safetensors.torch import load_file

    from cadenza.models.registry import fit_config
    from cadenza.representations import NoteState, NoteStateConfig
    from cadenza.shipped import shipped_models

    rep = NoteState(NoteStateConfig(velocity_bins=8))  # the shipped model has dynamics
    plain = build_model(fit_config(get_preset("biaxial-small"), rep))
    with pytest.raises(CheckpointError, match="chord_inputs"):  # and chord inputs
        init_from(plain, "biaxial-piano", rep)
    config = fit_config(replace(get_preset("biaxial-small"), chord_inputs=True), rep)
    model = build_model(config)
    assert init_from(model, "biaxial-piano", rep).name == "biaxial-piano"
    saved = load_file(str(shipped_models()["biaxial-piano"] / "model.safetensors"))
    state = model.state_dict()
    assert set(saved) == set(state)
    for key, value in saved.items():
        torch.testing.assert_close(state[key], value)


def test_bf16_autocast_trains_close_to_fp32(tmp_path: Path) -> None:
    """bfloat16 autocast runs the forward pass in bf16 (losses differ from fp32 in the
    low bits) while the curve stays close; a bad setting is refused."""
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="fp16")
    if not native_bf16(torch.device("cpu")):
        with pytest.raises(ConfigError, match="no native bfloat16"):
            _trainer(tmp_path / "refused", steps=2, precision="bf16")
        pytest.skip("this CPU has no native bfloat16 (AVX512-BF16 or AMX): bf16 is refused")
    curves = {}
    for precision in ("fp32", "bf16"):
        trainer = _trainer(tmp_path / precision, steps=6, precision=precision)
        assert trainer.autocast == (torch.bfloat16 if precision == "bf16" else None)
        trainer.fit()
        curves[precision] = _train_losses(tmp_path / precision)
    assert curves["fp32"] != curves["bf16"]
    np.testing.assert_allclose(curves["bf16"], curves["fp32"], rtol=2e-2)
    assert autocast_dtype("auto", torch.device("cpu")) == (
        torch.bfloat16 if native_bf16(torch.device("cpu")) else None)
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="fp16")


def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path: Path) -> None:
    """latest.json naming a deleted checkpoint, or an older one (a kill between a checkpoint's
    rename and the pointer's write): resume from the newest intact folder, never from 0."""
    _trainer(tmp_path / "full", steps=9, checkpoint_every=3, keep_checkpoints=5).fit()
    full = _train_losses(tmp_path / "full")
    run = tmp_path / "cut"
    _trainer(run, steps=6, checkpoint_every=3, keep_checkpoints=5).fit()
    # The pointer names step 3 although step 6 was written: as after a kill in between.
    write_pointer(run, "latest.json", run / "checkpoints" / "step-000003", step=3)
    summary = _trainer(run, steps=9, checkpoint_every=3, keep_checkpoints=5).fit(resume=True)
    assert summary.steps_done == 9
    np.testing.assert_allclose(_train_losses(run), full, rtol=1e-6)
    # Now the newest checkpoint is gone and the pointer names it.
    shutil.rmtree(run / "checkpoints" / "step-000009")
    summary = _trainer(run, steps=9, checkpoint_every=3, keep_checkpoints=5).fit(resume=True)
    assert summary.steps_done == 9
    np.testing.assert_allclose(_train_losses(run), full, rtol=1e-6)  # no duplicated rows
    assert json.loads((run / "latest.json").read_text())["step"] == 9


def test_resume_never_starts_over_in_a_folder_with_checkpoints(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _trainer(run, steps=3, checkpoint_every=3).fit()
    (run / "checkpoints" / "step-000003" / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(CheckpointError, match="none of its 1 checkpoints is intact"):
        _trainer(run, steps=6, checkpoint_every=3).fit(resume=True)
    assert (run / "checkpoints" / "step-000003").is_dir()  # nothing was overwritten


def test_leftovers_of_killed_processes_are_removed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _trainer(run, steps=3, checkpoint_every=3).fit()
    stale = [run / "checkpoints" / ".step-000006.tmp-abc", run / ".latest.json.1f2e.tmp"]
    stale[0].mkdir()
    (stale[0] / "model.safetensors").write_bytes(b"half")
    stale[1].write_text("{")
    fresh = run / ".best.json.9a9a.tmp"
    fresh.write_text("{")
    for path in stale:
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    assert remove_leftovers(run) == 2
    assert not any(p.exists() for p in stale) and fresh.exists()  # a young one may be in use


def test_fresh_runs_with_one_seed_log_the_same_losses(tmp_path: Path) -> None:
    """The seed is set before the model is built, so two fresh CLI runs match."""
    from typer.testing import CliRunner

    from cadenza.cli import app

    midi = tmp_path / "midi"
    for i, roll in enumerate(_rolls(6, 80)):
        write_midi(PianoRoll().decode(roll), midi / f"p{i}.mid")
    logs = []
    for name in ("a", "b"):
        result = CliRunner().invoke(app, [
            "train", "--model", "pianoroll-debug", "--data", str(midi), "--meters", "all",
            "--steps", "6", "--log-every", "1", "--eval-every", "3", "--sample-every", "0",
            "--seed", "4", "--workers", "1", "--threads", "1", "--no-progress",
            "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        logs.append(_train_losses(tmp_path / name))
    assert len(logs[0]) == 6 and logs[0] == logs[1]


@pytest.mark.parametrize(("change", "message"), [
    ({"model": None}, "'model' must be a mapping"),
    ({"model": [1, 2]}, "'model' must be a mapping"),
    ({"representation": None}, "'representation' must be a mapping"),
    ({"model": {"family": "pianoroll", "hidden_sizes": [100000, 100000]}}, "needs"),
])
def test_edited_configs_give_one_line_errors_before_allocating(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    _trainer(tmp_path / "run", steps=1, checkpoint_every=1).fit()
    checkpoint = resolve_checkpoint(tmp_path / "run")
    info = json.loads((checkpoint / "config.json").read_text())
    info.update(change)
    (checkpoint / "config.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match=message) as caught:
        load_checkpoint(checkpoint)
    assert str(checkpoint) in str(caught.value) and "\n" not in str(caught.value)


def test_nan_weights_and_missing_weights_are_named(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    _trainer(tmp_path / "run", steps=1, checkpoint_every=1).fit()
    checkpoint = resolve_checkpoint(tmp_path / "run")
    weights = load_file(str(checkpoint / "model.safetensors"))
    first = sorted(weights)[0]
    weights[first] = torch.full_like(weights[first], float("nan"))
    save_file(weights, str(checkpoint / "model.safetensors"))
    info = json.loads((checkpoint / "config.json").read_text())
    info.pop("weights_sha256")  # as if the hash had been forged along with the weights
    (checkpoint / "config.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(checkpoint)
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors: missing"):
        load_checkpoint(checkpoint)


def test_resume_with_a_damaged_trainer_state_or_run_record_says_so(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _trainer(run, steps=3, checkpoint_every=3).fit()
    (run / "checkpoints" / "step-000003" / "trainer.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="none of its 1 checkpoints is intact"):
        _trainer(run, steps=6, checkpoint_every=3).fit(resume=True)
    (run / "run.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"run\.json: damaged"):
        _trainer(run, steps=6, checkpoint_every=3).fit(resume=True)


def test_an_out_that_is_a_file_or_unwritable_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("mine")
    with pytest.raises(ConfigError, match="is not a folder"):
        _trainer(target, steps=1).fit()
    assert target.read_text() == "mine"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere
            pytest.skip("this user can write in a read-only folder")
        with pytest.raises(ConfigError, match="cannot write"):
            _trainer(locked / "run", steps=1).fit()
    finally:
        locked.chmod(0o700)


def test_preset_overrides_from_the_command_line() -> None:
    from cadenza.cli.options import parse_overrides

    assert parse_overrides(["dropout=0.2", "time_sizes=[64, 64]", "name=x"]) == {
        "dropout": 0.2, "time_sizes": (64, 64), "name": "x"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["dropout"])


def test_loop_state_round_trips_and_refuses_damage() -> None:
    state = LoopState()
    assert state.record_valid(100, 0.5) and state.first_valid == 0.5
    assert not state.record_valid(200, 0.6) and state.bad_evals == 1
    assert state.record_valid(300, 0.4) and (state.best, state.best_step) == (0.4, 300)
    state.step = 300
    data = json.loads(json.dumps(state.to_dict()))  # as a checkpoint stores it
    assert LoopState.from_dict(data) == state
    for damage in ({"best": "low"}, {"valid_history": [[1]]}, {"step": None}):
        with pytest.raises(CheckpointError, match="trainer state is damaged"):
            LoopState.from_dict({**data, **damage})


def test_training_keeps_freed_memory_for_reuse(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """On glibc the trainer has malloc keep freed memory (no page faults on each step's large
    tensors); a choice made in the environment is left alone; elsewhere nothing happens."""
    import platform

    from cadenza import machine

    monkeypatch.setattr(machine, "_freed_memory_kept", False)
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "65536")
    assert machine.keep_freed_memory() is False
    monkeypatch.delenv("MALLOC_MMAP_MAX_")
    _trainer(tmp_path / "run", steps=1).fit()
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert machine._freed_memory_kept is glibc
    assert machine.keep_freed_memory() is glibc  # once per process; asking again is cheap
