"""How long a cadence's final chord sounds above its held bass (``ending_hold``): the
request's beats, else the model's own (``config.json`` ``generation.ending_hold``), else the
whole bar."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.composing import ComposeRequest, compose
from cadenza.composing.pieces import ComposedPiece
from cadenza.composing.request import check_controls
from cadenza.errors import ConfigError
from cadenza.shipped import models_dir

STEPS_PER_BAR = 16
BASE = dict(checkpoint="biaxial-piano", bars=4, seed=2, composer="Bach", key="D minor",
            ending="cadence", write_files=False)


def _last_bar(piece: ComposedPiece, bars: int = 4) -> tuple[np.ndarray, int]:
    """The notes sounding in the piece's last bar, and the bar's first step."""
    notes = piece.score.notes
    last_bar = piece.generated_start_tick + (bars - 1) * STEPS_PER_BAR
    return notes[notes["start"] + notes["duration"] > last_bar], last_bar


def _held_for(tmp_path: Path, **options: object) -> tuple[int, set[int]]:
    """The length (steps) of the last bar's bass, and of the notes above it; each is struck
    on the bar's first step, and nothing else sounds in the bar."""
    request = ComposeRequest(out_dir=tmp_path, **{**BASE, **options})  # type: ignore[arg-type]
    last, start = _last_bar(compose(request).pieces[0])
    assert len(last) >= 3 and (last["start"] == start).all()  # the chord, struck together
    assert {int(p) % 12 for p in last["pitch"]} == {2, 5, 9}  # D minor's triad
    bass = int(np.argmin(last["pitch"]))
    assert int(last["pitch"][bass]) % 12 == 2  # D in the bass
    upper = {int(d) for i, d in enumerate(last["duration"]) if i != bass}
    return int(last["duration"][bass]), upper


def test_the_final_chord_sounds_as_many_beats_as_asked_over_its_held_bass(
        tmp_path: Path) -> None:
    assert _held_for(tmp_path) == (STEPS_PER_BAR, {STEPS_PER_BAR})  # the whole bar by default
    assert _held_for(tmp_path, ending_hold=2) == (STEPS_PER_BAR, {8})  # a half note
    assert _held_for(tmp_path, ending_hold=0.25) == (STEPS_PER_BAR, {1})
    assert _held_for(tmp_path, ending_hold=0.1) == (STEPS_PER_BAR, {1})  # at least one step
    said = CliRunner().invoke(app, ["generate", "biaxial-piano", "--bars", "4", "--seed", "2",
                                    "--composer", "Bach", "--key", "D minor", "--ending",
                                    "cadence", "--ending-hold", "1", "--out",
                                    str(tmp_path / "cli")])
    assert said.exit_code == 0, said.output
    sidecar = json.loads(next((tmp_path / "cli").glob("*.json")).read_text())
    assert sidecar["settings"]["ending_hold"] == 1.0  # replayed with the piece


def _model_with_hold(tmp_path: Path, name: str, beats: object) -> dict[str, object]:
    """Options composing with a copy of biaxial-piano whose config.json sets ``ending_hold``
    (from silence: a copy ships no primers)."""
    folder = tmp_path / name
    shutil.copytree(models_dir() / "biaxial-piano", folder)
    info = json.loads((folder / "config.json").read_text())
    info["generation"] = {**info.get("generation", {}), "ending_hold": beats}
    (folder / "config.json").write_text(json.dumps(info))
    return dict(checkpoint=str(folder), composer=None, no_primer=True)


def test_a_model_carries_its_own_final_chord_length(tmp_path: Path) -> None:
    own = _model_with_hold(tmp_path, "three", 3)
    assert _held_for(tmp_path, **own) == (STEPS_PER_BAR, {12})
    assert _held_for(tmp_path, **own, ending_hold=4) == (STEPS_PER_BAR, {16})  # the request's
    six = _model_with_hold(tmp_path, "six", 6)
    for ending in ("cadence", "auto"):  # the default ending too: refused, not left out
        with pytest.raises(ConfigError, match=r"config\.json: generation\.ending_hold must"):
            _held_for(tmp_path, **six, ending=ending)


@pytest.mark.parametrize("options, message", [
    ({"ending_hold": 0}, "ending_hold must be a number of beats above 0"),
    ({"ending_hold": 4.5}, "ending_hold must be a number of beats above 0"),
    ({"ending_hold": "2"}, "ending_hold must be a number of beats above 0"),
    ({"ending_hold": 2, "ending": "none"}, "it needs an ending"),
])
def test_a_bad_final_chord_length_is_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ComposeRequest(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("family", ["events", "notetokens", "transformer"])
def test_a_token_model_refuses_a_final_chord_length(family: str) -> None:
    """Token models steer their last elements to the tonic; they hold no chord to time."""
    check_controls(ComposeRequest(ending_hold=4), "biaxial")
    with pytest.raises(ConfigError, match=f"the {family} family cannot honour --ending-hold"):
        check_controls(ComposeRequest(ending_hold=2), family)
