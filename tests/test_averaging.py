"""The running weight average: its arithmetic, and a trainer that validates, saves and resumes
with it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from cadenza.averaging import WeightAverage, effective_decay, load_training_weights
from cadenza.checkpoint import load_checkpoint, load_trainer_state, resolve_checkpoint
from cadenza.errors import CheckpointError, ConfigError
from cadenza.training import TrainConfig
from tests.test_training import _trainer


def _valid_losses(run_dir: Path) -> list[float]:
    with open(run_dir / "log.csv", newline="") as handle:
        return [float(r["loss"]) for r in csv.DictReader(handle) if r["split"] == "valid"]


def test_average_follows_the_exponential_formula() -> None:
    model = nn.Linear(3, 2)
    start = model.weight.detach().clone()
    average = WeightAverage(model, decay=0.9)
    expected = start.clone()
    for update in range(5):
        with torch.no_grad():
            model.weight.add_(1.0)
        average.update(update)
        d = effective_decay(0.9, update)
        expected = d * expected + (1 - d) * model.weight.detach()
    assert effective_decay(0.9, 0) == pytest.approx(0.1)
    assert effective_decay(0.9, 1000) == 0.9
    trained = model.weight.detach().clone()
    with average.swapped():
        torch.testing.assert_close(model.weight.detach(), expected)
    torch.testing.assert_close(model.weight.detach(), trained)  # put back afterwards
    with pytest.raises(ConfigError):
        WeightAverage(model, decay=1.0)
    with pytest.raises(ConfigError):
        TrainConfig(ema=1.0)


def test_training_weights_are_checked_by_name_and_shape() -> None:
    model = nn.Linear(3, 2)
    with pytest.raises(CheckpointError, match=r"bad\.bin.*'weight'"):
        load_training_weights(model, {"weight": torch.zeros(3, 3)}, "bad.bin")
    load_training_weights(model, {"bias": torch.ones(2)}, "ok.bin")
    assert torch.equal(model.bias.detach(), torch.ones(2))


def test_averaged_run_saves_the_average_and_resumes_the_training_weights(
    tmp_path: Path,
) -> None:
    trainer = _trainer(tmp_path / "full", steps=9, ema=0.8)
    trainer.fit()
    full = _valid_losses(tmp_path / "full")
    checkpoint = resolve_checkpoint(tmp_path / "full" / "checkpoints" / "step-000009")
    saved = load_file(str(checkpoint / "model.safetensors"))
    state = load_trainer_state(checkpoint)
    # The checkpoint's weights are the average, the trainer state holds the training weights,
    # and the two differ (nine updates at lr 3e-3 move the weights).
    assert trainer.average is not None
    for name, average in zip(trainer.average.names, trainer.average.shadow, strict=True):
        torch.testing.assert_close(saved[name], average)
        assert not torch.equal(state.weights[name], saved[name])
    for name, param in trainer.model.named_parameters():
        torch.testing.assert_close(state.weights[name], param.detach())
    # What the trainer validates is the average: a plain trainer holding the saved weights
    # scores the same, one holding the training weights does not.
    averaged_loss = trainer.evaluate()
    plain = _trainer(tmp_path / "plain", steps=1)
    plain.model.load_state_dict(load_checkpoint(checkpoint).model.state_dict())
    scored = plain.evaluate()
    assert averaged_loss is not None and scored is not None
    assert scored["loss"] == pytest.approx(averaged_loss["loss"], rel=1e-6)
    load_training_weights(plain.model, state.weights, "trainer state")
    training = plain.evaluate()
    assert training is not None and training["loss"] != pytest.approx(scored["loss"], rel=1e-6)

    _trainer(tmp_path / "part", steps=6, ema=0.8).fit()
    _trainer(tmp_path / "part", steps=9, ema=0.8).fit(resume=True)
    np.testing.assert_allclose(_valid_losses(tmp_path / "part"), full, rtol=1e-5)


def test_the_average_changes_what_validation_sees(tmp_path: Path) -> None:
    """Same seed, same updates: the averaged run validates exactly the exponential average
    of the plain run's weights after each update (the formula, computed here from the plain
    run's checkpoints), not the weights themselves."""
    initial = _trainer(tmp_path / "unused", steps=1).model.state_dict()
    plain = _trainer(tmp_path / "plain", steps=6, checkpoint_every=1, keep_checkpoints=6).fit()
    averaged = _trainer(tmp_path / "avg", steps=6, ema=0.99).fit()
    assert plain.steps_done == averaged.steps_done == 6
    scorer = _trainer(tmp_path / "scorer", steps=1)
    names = [name for name, _ in scorer.model.named_parameters()]
    average = {name: initial[name].double() for name in names}
    expected = []
    for update in range(6):
        weights = load_file(str(tmp_path / "plain" / "checkpoints" / f"step-{update + 1:06d}"
                                / "model.safetensors"))
        decay = effective_decay(0.99, update)  # 0.1, 0.18, 0.25, ...: warming up
        average = {name: decay * average[name] + (1 - decay) * weights[name].double()
                   for name in names}
        if (update + 1) % 2 == 0:  # validated every 2 steps
            scorer.model.load_state_dict({**weights, **{k: v.float() for k, v in average.items()}})
            scored = scorer.evaluate()
            assert scored is not None
            expected.append(scored["loss"])
    np.testing.assert_allclose(_valid_losses(tmp_path / "avg"), expected, rtol=1e-5)
    gaps = np.abs(np.subtract(_valid_losses(tmp_path / "plain"), expected))
    assert (gaps > 1e-3).all()  # the plain run's own weights score otherwise
