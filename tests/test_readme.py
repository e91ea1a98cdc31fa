"""The README's examples run as written: every ``python`` block in order (one namespace, as a
reader pastes them), and every ``cadenza`` line of the "Composing with intent" and "Making a
piece again" blocks through the CLI, in a scratch folder holding the ``melody.mid`` and
``piece.mid`` they name. Blocks whose commands name a folder the reader supplies
(``MIDI_DIR``) or a multi-GPU launcher are covered by the training and distributed tests
instead; the quick start's ``make`` targets are what CI runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cadenza.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README.read_text()) if lang == language]


def _write_tune(path: Path, bars: int) -> None:
    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    tune = [74, 76, 77, 79, 81, 79, 77, 74] * (bars // 2)
    write_midi(Score(make_notes([i * 4 for i in range(len(tune))], [4] * len(tune), tune), 4,
                     time_signatures=(TimeSignature(0, 4, 4),)), path)


def test_the_python_examples_run_as_written(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks("python")
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for body in blocks:
        exec(compile(body, str(README), "exec"), namespace)  # our own README
    assert Path("out/api/bach-d-minor.mid").is_file()
    assert len(list(Path("out/api").glob("*.json"))) >= 3  # the piece's and compose_files'


def _cadenza_lines(block: str) -> list[list[str]]:
    """The arguments of each ``cadenza`` (or ``.venv/bin/cadenza``) line, comments dropped."""
    lines = [line.split("  #")[0].strip() for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines
            if line.startswith(("cadenza ", ".venv/bin/cadenza "))]


def test_making_a_piece_again_runs_as_written(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = [b for b in _blocks("bash") if "--replay" in b]
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for argv in _cadenza_lines(block):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, f"cadenza {' '.join(argv)}:\n{result.output}"
    (first,), (again,) = Path("out/a").glob("*.mid"), Path("out/b").glob("*.mid")
    assert first.read_bytes() == again.read_bytes()


def test_the_composing_commands_run_as_written(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = [b for b in _blocks("bash") if "cadenza harmonise melody.mid" in b]
    monkeypatch.chdir(tmp_path)
    _write_tune(tmp_path / "melody.mid", 4)
    _write_tune(tmp_path / "piece.mid", 8)  # --infill 5-8 needs eight bars
    runner = CliRunner()
    commands = _cadenza_lines(block)
    assert len(commands) >= 9
    for argv in commands:
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, f"cadenza {' '.join(argv)}:\n{result.output}"
