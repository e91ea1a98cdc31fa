"""Ensembles: parts by voice leading (one line each, inside its range), a MIDI track and a
MusicXML part per instrument from ``cadenza generate --ensemble``, harmonising as SATB."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
import symusic
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.composing import ComposeRequest
from cadenza.ensembles import ENSEMBLES, get_ensemble
from cadenza.errors import ConfigError
from cadenza.midi import write_midi
from cadenza.score import Score, TimeSignature, make_notes
from cadenza.voicing import PartLine, arrange, best_assignment, in_range

runner = CliRunner()
needs_music21 = pytest.mark.skipif(
    importlib.util.find_spec("music21") is None,
    reason="MusicXML needs music21 (pip install 'cadenza[notation]')")


def _score(rows: list[tuple[int, int, int]]) -> Score:
    """(start, duration, pitch) rows at 4 ticks a quarter, in 4/4."""
    starts, durations, pitches = zip(*rows, strict=True)
    return Score(make_notes(list(starts), list(durations), list(pitches)), 4,
                 time_signatures=(TimeSignature(0, 4, 4),), name="test")


def _lines(notes: np.ndarray) -> bool:
    """Whether no two notes of a part sound at once."""
    order = np.argsort(notes["start"], kind="stable")
    ends = (notes["start"] + notes["duration"])[order]
    return bool(np.all(notes["start"][order][1:] >= ends[:-1]))


def test_voice_leading_beats_rank_order() -> None:
    """After S72 A67 T64 B48, two notes 71 and 65: rank order gives 65 to the alto (from
    67, 2 semitones); voice leading to the tenor (from 64, 1 semitone)."""
    arranged = arrange(_score([(0, 4, 72), (0, 4, 67), (0, 4, 64), (0, 4, 48),
                               (4, 4, 71), (4, 4, 65)]), get_ensemble("satb"))
    soprano, alto, tenor, bass = (part["pitch"].tolist() for part in arranged.notes)
    assert soprano == [72, 71]
    assert alto == [67] and tenor == [64, 65] and bass == [48]
    assert arranged.dropped == arranged.shifted == 0


def test_parts_do_not_cross_when_they_need_not() -> None:
    """The bass last sang 58 and the tenor holds 57: a new 59 would move the bass least (1
    semitone), but above the tenor; the tenor takes it (2, and its held note cut)."""
    satb = get_ensemble("satb")
    lines = [PartLine(part) for part in satb.parts]
    lines[0].notes.append((0, 16, 72, 80))
    lines[1].notes.append((0, 16, 64, 80))
    lines[2].notes.append((0, 16, 57, 80))
    lines[3].notes.append((0, 4, 58, 80))  # ended at tick 4
    choice = best_assignment(lines, 4, [59])
    assert [index for index, _ in choice] == [None, None, 0, None]


def test_parallel_fifths_cost_more_than_a_longer_step() -> None:
    """The violins last played 79 and 72 (a fifth); 81 and 74 would move them in parallel
    fifths. The second violin's step is the shortest (2), but the viola (from 70, 4) takes
    the 74 instead."""
    lines = [PartLine(part) for part in get_ensemble("quartet").parts]
    for line, pitch in zip(lines, [79, 72, 70, 50], strict=True):
        line.notes.append((0, 4, pitch, 80))
    choice = best_assignment(lines, 4, [81, 74])
    assert [index for index, _ in choice] == [0, None, 1, None]


@pytest.mark.parametrize("name", ["satb", "quartet"])
def test_parts_are_single_lines_inside_their_ranges(name: str) -> None:
    """Dense random chords (up to 7 notes, all over the keyboard): every part one line at a
    time, every note inside its part's range, and every note accounted for."""
    rng = np.random.default_rng(3)
    rows = []
    for step in range(0, 64, 2):
        for pitch in rng.choice(np.arange(30, 100), size=rng.integers(1, 8), replace=False):
            rows.append((step, int(rng.integers(1, 6)), int(pitch)))
    score = _score(rows)
    ensemble = get_ensemble(name)
    arranged = arrange(score, ensemble)
    for part, notes in zip(ensemble.parts, arranged.notes, strict=True):
        assert _lines(notes), part.name
        assert np.all((notes["pitch"] >= part.low) & (notes["pitch"] <= part.high)), part.name
    kept = sum(len(n) for n in arranged.notes)
    assert kept + arranged.dropped == score.num_notes
    assert arranged.dropped > 0  # seven notes at once cannot all be played by four parts


def test_a_note_outside_every_range_is_moved_by_octaves() -> None:
    part = get_ensemble("satb").parts[3]  # bass E2-C4
    assert in_range(part, 50) == (50, False)
    assert in_range(part, 86) == (50, True)  # D6 -> D3
    arranged = arrange(_score([(0, 4, 100)]), get_ensemble("satb"))  # E7: no part has it
    played = [int(p) for notes in arranged.notes for p in notes["pitch"]]
    assert arranged.shifted == 1 and len(played) == 1
    assert played[0] % 12 == 100 % 12


def test_a_first_chord_goes_to_the_parts_by_their_ranges_and_ties_keep_rank_order() -> None:
    """With no history each part is drawn toward the middle of its range; of equal ways (two
    violins, one note) the higher part takes it."""
    quartet = get_ensemble("quartet")
    choice = best_assignment([PartLine(part) for part in quartet.parts], 0, [76, 69, 62, 50])
    assert [pitch for _, pitch in choice] == [76, 69, 62, 50]
    choice = best_assignment([PartLine(part) for part in quartet.parts], 0, [80])
    assert [index for index, _ in choice] == [0, None, None, None]


def test_piano_splits_the_hands_at_middle_c() -> None:
    arranged = arrange(_score([(0, 4, 60), (0, 4, 64), (0, 4, 59), (0, 4, 40)]),
                       get_ensemble("piano"))
    assert sorted(arranged.notes[0]["pitch"].tolist()) == [60, 64]
    assert sorted(arranged.notes[1]["pitch"].tolist()) == [40, 59]


def test_bad_ensemble_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="ensemble must be one of satb, quartet, piano"):
        ComposeRequest(ensemble="orchestra")
    with pytest.raises(ConfigError, match="program"):
        ComposeRequest(ensemble="satb", program=40)
    assert set(ENSEMBLES) == {"satb", "quartet", "piano"}


@pytest.fixture(scope="module")
def debug_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from debug_run import make_debug_run

    folder = tmp_path_factory.mktemp("ensemble-run")
    return make_debug_run(folder, steps=3, cache_dir=folder / "cache")


def test_bad_ensemble_gives_a_one_line_error(debug_model: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", str(debug_model), "--ensemble", "trio",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "ensemble must be one of satb, quartet, piano" in lines[0]
    assert not list(tmp_path.iterdir())


@needs_music21
@pytest.mark.parametrize("name", ["satb", "quartet"])
def test_generate_writes_a_track_and_a_part_per_instrument(debug_model: Path, tmp_path: Path,
                                                           name: str) -> None:
    result = runner.invoke(app, ["generate", str(debug_model), "--ensemble", name,
                                 "--bars", "4", "--seed", "2", "--out", str(tmp_path),
                                 "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert f"ensemble {name}:" in result.output and "notes dropped" in result.output
    ensemble = get_ensemble(name)
    midi = symusic.Score.from_file(str(next(tmp_path.glob("*.mid"))))
    assert [t.name for t in midi.tracks] == [p.name for p in ensemble.parts]
    assert [t.program for t in midi.tracks] == [p.program for p in ensemble.parts]
    assert sum(len(t.notes) for t in midi.tracks) > 0
    for track, part in zip(midi.tracks, ensemble.parts, strict=True):
        notes = sorted((n.time, n.end, n.pitch) for n in track.notes)
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(notes)), part.name
        assert all(part.low <= n[2] <= part.high for n in notes), part.name
    xml = next(tmp_path.glob("*.musicxml")).read_text()
    assert xml.count("<score-part ") == len(ensemble.parts)
    for part in ensemble.parts:
        assert f"<part-name>{part.name}</part-name>" in xml
    assert '"ensemble": "' + name + '"' in next(tmp_path.glob("*.json")).read_text()


@needs_music21
def test_harmonise_satb_keeps_the_melody_as_the_soprano(debug_model: Path,
                                                        tmp_path: Path) -> None:
    melody = [(0, 4, 67), (4, 4, 69), (8, 8, 71), (16, 4, 81), (20, 4, 71), (24, 8, 67)]
    melody_file = write_midi(_score(melody), tmp_path / "tune.mid")
    out = tmp_path / "out"
    result = runner.invoke(app, ["harmonise", str(melody_file), "--model", str(debug_model),
                                 "--ensemble", "satb", "--seed", "4", "--out", str(out),
                                 "--threads", "1"])
    assert result.exit_code == 0, result.output
    # A5 is above the soprano's G5: kept as written, and said
    assert "1 melody notes kept as written outside the top part's range" in result.output
    midi = symusic.Score.from_file(str(next(out.glob("*.mid"))))
    soprano = midi.tracks[0]
    assert soprano.name == "Soprano"
    step = midi.ticks_per_quarter // 4
    assert [(n.time // step, n.pitch) for n in soprano.notes] == [(s, p) for s, _, p in melody]
    lower = [n.pitch for track in midi.tracks[1:] for n in track.notes]
    assert lower


def test_satb_without_a_checkpoint_uses_the_shipped_chorale_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--ensemble", "satb", "--bars", "2", "--seed", "1",
                                 "--out", str(tmp_path), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "chorale-satb" in result.output.splitlines()[0]  # "model: .../chorale-satb"
    assert "primer: music21 corpus: bach/" in result.output
    quartet = runner.invoke(app, ["generate", "--ensemble", "quartet", "--bars", "2",
                                  "--seed", "1", "--out", str(tmp_path), "--threads", "1"])
    assert quartet.exit_code == 0, quartet.output
    assert "biaxial-piano" in quartet.output.splitlines()[0]  # the default model


def test_harmonise_satb_with_the_shipped_chorale_model_keeps_every_melody_note(
        tmp_path: Path) -> None:
    """The shipped model holds notes under a melody; a four-note cap on the composition would
    drop melody notes there, so harmonising is not capped (the parts drop what is too much)."""
    tune = [74, 76, 77, 79, 81, 79, 77, 74] * 2
    melody_file = write_midi(_score([(4 * i, 4, p) for i, p in enumerate(tune)]),
                             tmp_path / "tune.mid")
    out = tmp_path / "out"
    result = runner.invoke(app, ["harmonise", str(melody_file), "--ensemble", "satb",
                                 "--seed", "1", "--out", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    soprano = symusic.Score.from_file(str(next(out.glob("*.mid")))).tracks[0]
    assert [n.pitch for n in soprano.notes] == tune


def test_an_ensembles_wav_plays_its_parts_on_their_instruments(
        debug_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cadenza.audio

    rendered: list[symusic.Score] = []

    def fake_wav_bytes(what: object, **_: object) -> bytes:
        assert isinstance(what, Path)  # the parts' MIDI file, not the one-program score
        rendered.append(symusic.Score.from_file(str(what)))
        return b"RIFF"

    monkeypatch.setattr(cadenza.audio, "wav_bytes", fake_wav_bytes)
    result = runner.invoke(app, ["generate", str(debug_model), "--ensemble", "quartet",
                                 "--bars", "2", "--seed", "2", "--wav", "--out", str(tmp_path),
                                 "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert [t.program for t in rendered[0].tracks] == [40, 40, 41, 42]
    assert next(tmp_path.glob("*.wav")).read_bytes() == b"RIFF"


@needs_music21
def test_the_python_api_takes_an_ensemble(debug_model: Path, tmp_path: Path) -> None:
    import cadenza

    piece = cadenza.compose(debug_model, ensemble="satb", bars=2, seed=1, threads=1)
    assert piece.parts is not None and [p.name for p in piece.parts] == [
        "Soprano", "Alto", "Tenor", "Bass"]
    midi = symusic.Score.from_file(str(piece.save(tmp_path / "piece.mid")))
    assert [t.program for t in midi.tracks] == [52, 52, 52, 52]
    xml = piece.to_musicxml(tmp_path / "piece.musicxml").read_text()
    assert xml.count("<score-part ") == 4
    with pytest.raises(ConfigError, match="ensemble must be one of"):
        cadenza.compose(debug_model, ensemble="band", bars=2)
