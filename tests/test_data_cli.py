"""``cadenza preprocess`` and ``cadenza corpus bach`` from the command line."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.midi import write_midi
from cadenza.score import Score

runner = CliRunner()


@pytest.fixture
def midi_folder(tmp_path: Path, tiny_score: Score) -> Path:
    root = tmp_path / "midi"
    for i, name in enumerate(["Bach/a.mid", "Bach/b.mid", "Haydn/c.mid"]):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_midi(tiny_score.transpose(i), root / name)
    (root / "Haydn" / "broken.mid").write_text("not MIDI at all")
    return root


def preprocess(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["preprocess", *args, "--no-progress"])
    return result.exit_code, result.output


def test_preprocess_prints_the_summary_and_uses_the_cache(
    midi_folder: Path, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache")
    code, out = preprocess(str(midi_folder), "--cache-dir", cache, "--workers", "1")
    assert code == 0, out
    for expected in ("pieces read", "3 of 4", "not-midi 1", "4/4 3 pieces", "48-74 (C3-D5)",
                     "Bach 2", "Haydn 1", "3 misses"):
        assert expected in out, expected
    assert re.search(r"notes\s*│\s*30\s", out), out
    code, out = preprocess(str(midi_folder), "--cache-dir", cache, "-r", "notestate")
    assert code == 0 and "notestate" in out and "3 hits / 0 misses, arrays 0 hits" in out
    code, out = preprocess(str(midi_folder), "--no-cache", "--meters", "all", "-j", "2")
    assert code == 0 and "off" in out


def test_preprocess_reads_a_benchmark_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny_jsb.json"
    data = {"train": [[[60, 64, 67], [60, 65, 69]]] * 3, "valid": [[[62, 67]]], "test": [[[60]]]}
    path.write_text(json.dumps(data))
    code, out = preprocess(str(path), "--cache-dir", str(tmp_path / "cache"), "-r", "notetokens")
    assert code == 0, out
    assert "5 of 5" in out and "test 1" in out and "train 3" in out and "valid 1" in out


def test_preprocess_errors_are_one_line(tmp_path: Path, midi_folder: Path) -> None:
    code, out = preprocess(str(tmp_path / "absent"))
    assert code == 2 and "not-found" in out and "Traceback" not in out
    code, out = preprocess(str(midi_folder), "-r", "nonsense", "--no-cache")
    assert code == 2 and "unknown representation" in out
    code, out = preprocess(str(midi_folder), "--meters", "four", "--no-cache")
    assert code == 2 and "time signature" in out


def test_corpus_bach_without_music21(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "music21", None)
    result = runner.invoke(app, ["corpus", "bach", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "music21 is not installed" in result.output
    assert not (tmp_path / "out").exists()


def test_error_messages_keep_square_brackets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "music21", None)
    result = runner.invoke(app, ["corpus", "bach", str(tmp_path / "out")])
    assert "pip install 'cadenza[music21]'" in result.output


def test_corpus_bach_exports_then_keeps_files(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    result = runner.invoke(app, ["corpus", "bach", str(tmp_path), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 chorales" in result.output
    assert len(list((tmp_path / "Bach").glob("*.mid"))) == 2
    result = runner.invoke(app, ["corpus", "bach", str(tmp_path), "--limit", "2"])
    assert result.exit_code == 0 and "kept 2 existing files unchanged" in result.output


def test_preprocess_one_file_whose_name_hashes_outside_train(tmp_path: Path) -> None:
    """``f1.mid`` hashes to the generation split; one file is the whole corpus anyway."""
    import numpy as np

    from cadenza.data.split import SplitConfig, assign_split
    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    assert assign_split("f1.mid", SplitConfig()) != "train"
    starts = np.arange(0, 64, 2)
    score = Score(make_notes(starts, np.full(len(starts), 2), 60 + starts % 12), 4,
                  time_signatures=(TimeSignature(0, 4, 4),))
    path = write_midi(score, tmp_path / "f1.mid")
    result = CliRunner().invoke(app, ["preprocess", str(path), "--no-cache", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "train 1" in result.output


def test_cache_info_and_clear(tmp_path: Path) -> None:
    import numpy as np

    from cadenza.score import TimeSignature, make_notes

    folder = tmp_path / "midi"
    for i in range(1, 4):  # p1 valid, p2 test, p3 train
        starts = np.arange(0, 32, 2)
        write_midi(Score(make_notes(starts, np.full(16, 2), 60 + i + starts % 12), 4,
                         time_signatures=(TimeSignature(0, 4, 4),)), folder / f"p{i}.mid")
    cache = tmp_path / "cache"
    runner = CliRunner()
    built = runner.invoke(app, ["preprocess", str(folder), "--cache-dir", str(cache),
                                "--no-progress", "--workers", "1"])
    assert built.exit_code == 0, built.output
    info = runner.invoke(app, ["cache", "info", "--cache-dir", str(cache)])
    assert info.exit_code == 0 and str(cache) in info.output and "MB" in info.output
    dry = runner.invoke(app, ["cache", "clear", "--cache-dir", str(cache)])
    assert "pass --yes" in dry.output and any((cache / "packs").iterdir())
    done = runner.invoke(app, ["cache", "clear", "--cache-dir", str(cache), "--yes"])
    assert done.exit_code == 0 and not (cache / "packs").exists()
