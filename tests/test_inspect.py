"""``cadenza inspect``: per-layer LSTM activations over a primer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.errors import ConfigError
from cadenza.inspection import lstm_activations
from cadenza.models.registry import build_model, get_preset
from cadenza.representations import PianoRoll
from cadenza.shipped import primers_dir

runner = CliRunner()


def test_pianoroll_activations_match_the_final_state() -> None:
    torch.manual_seed(0)
    model = build_model(get_preset("pianoroll-debug")).eval()
    roll = (np.random.default_rng(0).random((10, 88)) < 0.1).astype(np.uint8)
    layers = lstm_activations(model, PianoRoll(), roll)
    assert len(layers) == len(model.config.hidden_sizes)  # type: ignore[attr-defined]
    state = model.init_state(1)
    for frame in roll:
        _, state = model.step(torch.from_numpy(frame[None].astype(np.float32)), state)
    for (_name, hidden, cells), (h, c) in zip(layers, state, strict=True):
        assert hidden.shape == cells.shape == (10, h.shape[-1])
        np.testing.assert_allclose(hidden[-1], h[0, 0].numpy(), atol=1e-6)
        np.testing.assert_allclose(cells[-1], c[0, 0].numpy(), atol=1e-6)


def test_attention_model_is_refused() -> None:
    model = build_model(get_preset("events-debug"))
    with pytest.raises(ConfigError, match="carries LSTM state"):
        lstm_activations(model, PianoRoll(), np.zeros((4, 3), dtype=np.int32))


def test_cli_inspect_with_the_shipped_model(tmp_path: Path) -> None:
    primer = primers_dir() / "bach_1.mid"
    folder = tmp_path / "pictures"
    out = folder / "bach_1-activations.png"
    result = runner.invoke(app, ["inspect", "--primer", str(primer), "--length", "16",
                                 "--out", str(folder)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = runner.invoke(app, ["inspect", "--primer", str(primer), "--out", str(folder)])
    assert again.exit_code == 2  # never overwrites
