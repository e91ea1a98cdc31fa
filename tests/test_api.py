"""The Python API, and the README's example of it run as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

import cadenza
from cadenza.errors import ConfigError, DataError
from cadenza.midi import read_midi

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    block = re.search(r"### From Python\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None, "README has no Python example"
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(block.group(1), "README.md", "exec"), {})
    finally:
        os.chdir(here)
    assert (tmp_path / "out/api/bach-d-minor.mid").is_file()
    assert (tmp_path / "out/api/bach-d-minor.json").is_file()
    assert (tmp_path / "out/api/bach-d-minor.png").is_file()
    assert "notes; generated from tick" in capsys.readouterr().out


def test_compose_is_reproducible_and_honours_its_controls(tmp_path: Path) -> None:
    first = cadenza.compose("pianoroll-piano", bars=2, seed=3, composer="Mozart",
                            pitch_range="C3-C6")
    again = cadenza.compose(cadenza.load("pianoroll-piano"), bars=2, seed=3, composer="Mozart",
                            pitch_range="C3-C6")
    np.testing.assert_array_equal(first.notes, again.notes)
    generated = first.notes[first.notes["start"] >= first.generated_start_tick]
    assert len(generated) and generated["pitch"].min() >= 48 and generated["pitch"].max() <= 84
    path = first.save(tmp_path / "p.mid")
    np.testing.assert_array_equal(read_midi(path).notes["pitch"], first.notes["pitch"])
    with pytest.raises(ConfigError, match="already exists"):
        first.save(tmp_path / "p.mid")
    drawn = cadenza.compose("pianoroll-piano", bars=1)
    assert isinstance(drawn.seed, int)  # drawn, and kept
    with pytest.raises(DataError, match="unknown composer"):
        cadenza.compose("pianoroll-piano", bars=1, composer="Nobody")


def test_compose_files_writes_what_generate_writes_and_options_are_checked(
    tmp_path: Path
) -> None:
    result = cadenza.compose_files("pianoroll-piano", out_dir=tmp_path, bars=2, count=2,
                                   seed=4, composer="Mozart", program=42)
    assert [p.stem for p in result.pieces] == [p.files[0].stem for p in result.pieces]
    names = sorted(path.name for piece in result.pieces for path in piece.files)
    assert len(names) == 4 and all(n.endswith((".mid", ".json")) for n in names)
    assert read_midi(result.pieces[0].files[0]).program == 42
    with pytest.raises(ConfigError, match="unknown composing option"):
        cadenza.compose_request("pianoroll-piano", colour="blue")
    with pytest.raises(ConfigError, match="program"):
        cadenza.compose_request("pianoroll-piano", program=128)


def test_generate_request_takes_the_options_as_the_command_names_them(tmp_path: Path) -> None:
    """``cadenza generate``'s options become the request in one library call; a replayed
    sidecar keeps its settings and takes only where and what to write."""
    from cadenza.api import generate_request
    from cadenza.sidecar import write_sidecar

    request = generate_request("pianoroll-piano", out=tmp_path / "a", velocity="64",
                               no_adaptive=True, candidates=2, infill="1-1",
                               primer=tmp_path / "p.mid", seed=5)
    assert (request.out_dir, request.velocity, request.adaptive) == (tmp_path / "a", 64, False)
    assert (request.infill_candidates, request.primer_file) == (2, tmp_path / "p.mid")
    assert generate_request(velocity="model").velocity is None
    with pytest.raises(ConfigError, match="--velocity must be 'model' or a MIDI velocity"):
        generate_request(velocity="loud")
    sidecar = write_sidecar(tmp_path / "p.json", request=request, checkpoint="pianoroll-piano",
                            weights_sha256=None, primer="p.mid", piece=0)
    again = generate_request(replay=sidecar, out=tmp_path / "b", wav=True, seed=9)
    assert (again.out_dir, again.wav, again.seed, again.velocity) == (tmp_path / "b", True, 5, 64)
    assert again.infill_candidates == 2 and not again.adaptive
