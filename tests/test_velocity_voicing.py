"""The biaxial dynamics output reading each note's place in its chord (``velocity_voicing``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cadenza.errors import CheckpointError, ConfigError
from cadenza.models.biaxial import BiaxialConfig, build
from cadenza.models.chordplace import voicing_features
from cadenza.models.notewalk import NoteRule
from cadenza.representations import NoteState, NoteStateConfig

SIZES = {"time_sizes": (8,), "note_sizes": (6,), "dropout": 0.0, "velocity_bins": 4}


def test_features_say_top_bottom_and_counts() -> None:
    notes = torch.zeros(2, 12, 2)
    notes[0, [2, 5, 9], 0] = 1.0  # a chord of three, the middle one held from before
    notes[0, [2, 9], 1] = 1.0
    f = voicing_features(notes)
    assert f.shape == (2, 12, 5)
    assert f[0, 9].tolist() == [1.0, 0.0, 0.0, 0.5, 0.5]  # top: 2 below, 2 started
    assert f[0, 2].tolist() == [0.0, 1.0, 0.5, 0.0, 0.5]  # bottom: 2 above
    assert f[0, 5].tolist() == [0.0, 0.0, 0.25, 0.25, 0.5]
    assert not f[1].any()  # a silent step says nothing


def _batch(rng: np.random.Generator) -> dict[str, torch.Tensor]:
    rep = NoteState(NoteStateConfig(velocity_bins=4))
    state = np.zeros((2, 9, 78, 3), np.uint8)
    on = rng.random((2, 9, 78)) < 0.1
    state[on] = (1, 1, 0)
    state[..., 2] = np.where(on, rng.integers(1, 5, on.shape), 0)
    return {"features": torch.from_numpy(rep.input_features(state[:, :-1])),
            "target": torch.from_numpy(state[:, 1:].astype(np.float32))}


def test_init_from_a_model_without_voicing_predicts_the_same() -> None:
    torch.manual_seed(0)
    old = build(BiaxialConfig(**SIZES)).eval()
    new = build(BiaxialConfig(**SIZES, velocity_voicing=True)).eval()
    new.load_state_dict(new.adapt_weights(old.config.to_dict(), old.state_dict()))
    batch = _batch(np.random.default_rng(1))
    with torch.no_grad():
        (old_loss, old_m), (new_loss, new_m) = old.loss(batch), new.loss(batch)
    assert new_loss.item() == pytest.approx(old_loss.item(), rel=1e-6)
    assert new_m["velocity_ce"] == pytest.approx(old_m["velocity_ce"], rel=1e-6)
    with pytest.raises(CheckpointError, match="velocity_voicing"):
        old.adapt_weights(new.config.to_dict(), new.state_dict())
    with pytest.raises(ConfigError, match="velocity_bins"):
        BiaxialConfig(time_sizes=(8,), note_sizes=(6,), velocity_voicing=True)


def test_composing_reads_the_chosen_chord_as_training_reads_the_true_one() -> None:
    """A step's velocity distribution, given the notes the step chose, equals the
    teacher-forced one for those notes; with a weight on 'top', the top note is louder."""
    torch.manual_seed(0)
    model = build(BiaxialConfig(**SIZES, velocity_voicing=True)).eval()
    assert model.voicing is not None
    with torch.no_grad():
        model.voicing.weight.zero_()
        model.voicing.weight[3, 0] = 5.0  # 'top' favours the loudest bin
    batch = _batch(np.random.default_rng(2))
    features = batch["features"][:, 0]  # (2, 78, 80)
    chosen = batch["target"][:, 0]  # (2, 78, 3): the notes the step is made to choose
    rule = NoteRule.teacher(chosen[..., :2].numpy())
    with torch.no_grad():
        out, _ = model.step(features, model.init_state(2), rule=rule)
        time_out = model.time_forward(batch["features"][:, :1])[:, 0]
        expected = torch.softmax(model.velocity_logits(time_out, chosen), -1)
    torch.testing.assert_close(out["velocity_probs"], expected)
    play = chosen[0, :, 0] > 0
    top = int(torch.nonzero(play).max())
    others = torch.nonzero(play).flatten()[:-1]
    assert float(out["velocity_probs"][0, top, 3]) > 0.9
    assert float(out["velocity_probs"][0, others, 3].max()) < 0.6
