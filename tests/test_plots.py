"""Pictures (piano roll, probabilities, activations) and the ``render`` / ``plot`` commands."""

from __future__ import annotations

import io
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.cli.render import GENERATED_PREFIX, generated_start
from cadenza.errors import ConfigError, DataError
from cadenza.generation.decoding import GENERATED_MARKER
from cadenza.midi import write_midi
from cadenza.plots import (
    piano_roll_png,
    pitch_name,
    plot_activations,
    plot_piano_roll,
    plot_probabilities,
)
from cadenza.score import Marker, Score

pytest.importorskip("matplotlib", reason="the pictures need matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path_or_bytes: Path | bytes) -> tuple[int, int]:
    """(width, height) in pixels read from the IHDR chunk of a PNG."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def orange_pixels(data: bytes) -> int:
    """How many pixels are matplotlib's ``tab:orange`` (the generated-notes colour)."""
    from matplotlib.image import imread

    rgb = (imread(io.BytesIO(data))[..., :3] * 255).round().astype(int)
    return int((np.abs(rgb - np.array([255, 127, 14])).sum(axis=-1) < 12).sum())


# -- piano roll ------------------------------------------------------------------------------
def test_piano_roll_without_primer(tiny_score: Score, tmp_path: Path) -> None:
    out = plot_piano_roll(tiny_score, tmp_path / "roll.png", title="tiny")
    width, height = png_size(out)
    assert 800 <= width <= 2000 and 300 <= height <= 1000
    assert orange_pixels(out.read_bytes()) == 0  # one colour when nothing is generated


def test_piano_roll_with_primer_colours_the_generated_part(tiny_score: Score) -> None:
    all_primer = piano_roll_png(tiny_score, primer_end_tick=tiny_score.end_tick)
    half = piano_roll_png(tiny_score, primer_end_tick=16)
    none_primer = piano_roll_png(tiny_score, primer_end_tick=0)
    # The legend swatch is orange in all three; generated bars add to it.
    assert orange_pixels(all_primer) < orange_pixels(half) < orange_pixels(none_primer)


def test_piano_roll_of_an_empty_score(tiny_score: Score, tmp_path: Path) -> None:
    empty = tiny_score.copy_with(notes=tiny_score.notes[:0])
    path = plot_piano_roll(empty, tmp_path / "empty.png")
    width, height = png_size(path)
    assert 800 <= width <= 2000 and 300 <= height <= 1000  # a full-size figure, not a stub
    full = plot_piano_roll(tiny_score, tmp_path / "full.png", primer_end_tick=0)
    assert orange_pixels(path.read_bytes()) == 0 < orange_pixels(full.read_bytes())


def test_refuses_to_overwrite(tiny_score: Score, tmp_path: Path) -> None:
    out = tmp_path / "roll.png"
    out.write_bytes(b"keep")
    with pytest.raises(ConfigError, match="already exists"):
        plot_piano_roll(tiny_score, out)
    assert out.read_bytes() == b"keep"
    plot_piano_roll(tiny_score, out, overwrite=True)
    assert out.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ConfigError, match="folder"):
        plot_piano_roll(tiny_score, tmp_path, overwrite=True)


def test_pitch_names() -> None:
    assert [pitch_name(p) for p in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]


# -- probabilities and activations -----------------------------------------------------------
def test_probabilities(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    probs = rng.random((48, 88)) ** 4  # (T, K)
    out = plot_probabilities(probs, tmp_path / "p.png", low_pitch=21, steps_per_quarter=4,
                             title="probabilities", first_step=16)
    width, height = png_size(out)
    assert 800 <= width <= 2000 and 300 <= height <= 1000


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.zeros(10), "non-empty"),
        (np.zeros((0, 88)), "non-empty"),
        (np.full((4, 4), 2.0), "within 0..1"),
        (np.full((4, 4), np.nan), "finite"),
    ],
)
def test_probabilities_rejects_bad_arrays(probs: np.ndarray, message: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=message):
        plot_probabilities(probs, tmp_path / "p.png", low_pitch=21, steps_per_quarter=4)
    assert not (tmp_path / "p.png").exists()


def test_activations(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    layers = [
        (f"lstm{i}", np.tanh(rng.normal(size=(32, 24))), rng.normal(size=(32, 24)) * (i + 1))
        for i in range(3)
    ]
    one = png_size(plot_activations(layers[:1], tmp_path / "one.png"))
    three = png_size(plot_activations(layers, tmp_path / "three.png", title="states"))
    assert one[0] == three[0] and three[1] > 2 * one[1]  # one row per layer


def test_activations_reject_mismatched_arrays(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="at least one"):
        plot_activations([], tmp_path / "a.png")
    with pytest.raises(DataError, match="'bad'"):
        plot_activations([("bad", np.zeros((4, 3)), np.zeros((4, 2)))], tmp_path / "a.png")


# -- commands --------------------------------------------------------------------------------
runner = CliRunner()


def test_marker_prefix_matches_compose(tiny_score: Score) -> None:
    assert GENERATED_MARKER.startswith(GENERATED_PREFIX)
    assert generated_start(tiny_score) is None
    marked = tiny_score.copy_with(markers=(Marker(3, "other"), Marker(16, GENERATED_MARKER)))
    assert generated_start(marked) == 16


def test_plot_command(tiny_score: Score, tmp_path: Path) -> None:
    marked = tiny_score.copy_with(markers=(Marker(16, GENERATED_MARKER),))
    midi = write_midi(marked, tmp_path / "piece.mid")
    result = runner.invoke(app, ["plot", str(midi)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "piece.png"
    assert "wrote" in result.output and str(out) in result.output
    assert orange_pixels(out.read_bytes()) > 0  # the marker split primer from generated
    again = runner.invoke(app, ["plot", str(midi)])
    assert again.exit_code == 2 and "already exists" in again.output
    custom = runner.invoke(app, ["plot", str(midi), "--out", str(tmp_path / "pictures")])
    assert custom.exit_code == 0 and (tmp_path / "pictures" / "piece.png").is_file()
    named = runner.invoke(app, ["plot", str(midi), "--out", str(tmp_path / "x.png")])
    assert named.exit_code == 2 and "--out is a folder on every cadenza command" in named.output


@pytest.mark.parametrize("command", ["plot", "render"])
def test_commands_reject_a_non_midi_file(command: str, tmp_path: Path) -> None:
    bad = tmp_path / "notes.mid"
    bad.write_text("these are not notes\n")
    result = runner.invoke(app, [command, str(bad)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "not-midi" in lines[0], result.output
    assert not bad.with_suffix(".png").exists() and not bad.with_suffix(".wav").exists()


def test_render_command(tiny_score: Score, tmp_path: Path) -> None:
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed (Debian package: fluidsynth)")
    midi = write_midi(tiny_score, tmp_path / "piece.mid")
    missing = runner.invoke(app, ["render", str(midi), "--soundfont", str(tmp_path / "no.sf2")])
    assert missing.exit_code == 2 and "no.sf2" in missing.output
    result = runner.invoke(app, ["render", str(midi)])
    if result.exit_code == 2 and "SoundFont" in result.output:
        pytest.skip(f"no General MIDI SoundFont: {result.output.strip()}")
    assert result.exit_code == 0, result.output
    out = tmp_path / "piece.wav"
    assert str(out) in result.output and out.read_bytes()[8:12] == b"WAVE"
    again = runner.invoke(app, ["render", str(midi)])
    assert again.exit_code == 2 and "already exists" in again.output
    forced = runner.invoke(app, ["render", str(midi), "--overwrite", "-o", str(tmp_path / "o")])
    assert forced.exit_code == 0 and (tmp_path / "o" / "piece.wav").is_file()
