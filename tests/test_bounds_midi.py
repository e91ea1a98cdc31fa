"""Bounds on what cadenza reads. One length and size limit for every MIDI file: the commands
that read a file (render, export, plot, inspect, harmonise, evaluate) and the web page's
upload refuse a hostile one at once, by name, in one line, writing nothing. Folder scans
count every entry they pass over; a benchmark pickle cannot expand past a limit."""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
from hostile_midi import deny_listing, invoke_timed, note_held_past_int32, one_note_file
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.data.boulanger import (
    MAX_PIECE_STEPS,
    load_benchmark,
    read_benchmark_data,
    validate_benchmark,
)
from cadenza.errors import DataError, MidiError, NotationError
from cadenza.generation.primerbank import primer_from_file
from cadenza.midi import (
    MAX_FILE_BYTES,
    MAX_QUARTERS,
    ReadOptions,
    load_piece,
    parse_midi_bytes,
    read_folder,
    read_midi,
)
from cadenza.midifolder import scan_midi_folder
from cadenza.notation import MAX_NOTATION_NOTES, musicxml_bytes
from cadenza.representations import PianoRoll
from cadenza.score import Score, make_notes

FAR_NOTE = one_note_file(2**27, repeats=1)  # 41 bytes, a note at tick 2**28: 559,241 quarters


def test_the_reader_refuses_a_note_far_away_by_name(tmp_path: Path) -> None:
    path = tmp_path / "far.mid"
    path.write_bytes(FAR_NOTE)
    for read in (lambda: read_midi(path), lambda: parse_midi_bytes(FAR_NOTE, "far.mid"),
                 lambda: primer_from_file(path, PianoRoll())):  # render, export, plot; the
        with pytest.raises(MidiError) as caught:          # web upload; inspect, harmonise
            read()
        assert caught.value.reason == "too-long" and "far.mid" in str(caught.value)
        assert f"{MAX_QUARTERS:,} allowed" in str(caught.value)


def test_the_limit_is_the_one_of_the_read_options(tmp_path: Path) -> None:
    path = tmp_path / "long.mid"
    path.write_bytes(one_note_file(480 * 100))  # a note after 100 quarters
    assert read_midi(path).num_notes == 1
    with pytest.raises(MidiError, match="too-long"):
        read_midi(path, max_quarters=50)
    with pytest.raises(MidiError, match="too-long"):
        parse_midi_bytes(path.read_bytes(), path, max_quarters=50)
    assert load_piece(path, ReadOptions(time_signatures=None, max_quarters=101))[0].num_notes


def test_bytes_over_the_size_limit_are_refused_before_parsing() -> None:
    data = FAR_NOTE + bytes(MAX_FILE_BYTES)
    with pytest.raises(MidiError, match="too-large") as caught:
        parse_midi_bytes(data, "big.mid")
    assert "big.mid" in str(caught.value)


def test_a_note_lost_past_32_bit_ticks_is_too_long_not_empty(tmp_path: Path) -> None:
    """The MIDI library counts ticks in 32 bits and drops a note held across 2**31."""
    path = tmp_path / "wrapped.mid"
    path.write_bytes(note_held_past_int32())
    with pytest.raises(MidiError) as caught:
        read_midi(path)
    assert caught.value.reason == "too-long" and "2,147,483,647 ticks" in str(caught.value)


@pytest.mark.parametrize("command", [
    ["render"], ["export"], ["export", "--musicxml", "--svg"], ["plot"],
])
def test_commands_refuse_a_note_at_tick_2_28_at_once_writing_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "far.mid"
    path.write_bytes(FAR_NOTE)
    result, seconds = invoke_timed([*command, str(path)])
    assert seconds < 5.0  # generous: the refusal is immediate
    assert result.exit_code == 2, result.output
    assert "too-long" in result.output and "Traceback" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["far.mid"]


def test_a_folder_scan_counts_every_entry_it_passes_over(tmp_path: Path) -> None:
    """FIFOs, folders named *.mid, link loops, broken links and an unreadable folder are
    counted by reason in the total that preprocess prints, as is the 32-bit overflow."""
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(3):
        (folder / f"ok{i}.mid").write_bytes(one_note_file(480 * (i + 1)))
    (folder / "wrapped.mid").write_bytes(note_held_past_int32())
    os.mkfifo(folder / "pipe.mid")
    (folder / "album.mid").mkdir()  # a folder named like a file; what it holds is read
    (folder / "album.mid" / "inner.mid").write_bytes(one_note_file(960 * 5))
    (folder / "self.mid").symlink_to(folder / "self.mid")
    (folder / "gone.mid").symlink_to(tmp_path / "nowhere.mid")
    (folder / "back").symlink_to(folder, target_is_directory=True)
    scan = scan_midi_folder(folder)
    assert [p.name for p in scan.files] == ["inner.mid", "ok0.mid", "ok1.mid", "ok2.mid",
                                            "wrapped.mid"]
    assert sorted((Path(e.path).name, e.reason) for e in scan.skipped) == [
        ("album.mid", "not-a-file"), ("back", "link-loop"), ("gone.mid", "broken-link"),
        ("pipe.mid", "not-a-file"), ("self.mid", "link-loop")]
    result = CliRunner().invoke(app, ["preprocess", str(folder), "--meters", "all",
                                      "--workers", "1", "--no-cache", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "4 of 10" in result.output  # 5 files and 5 entries passed over
    for tally in ("not-a-file 2", "link-loop 2", "broken-link 1", "too-long 1"):
        assert tally in result.output
    assert "empty" not in result.output
    _, summary = read_folder(folder, ReadOptions(time_signatures=None))
    assert summary.files_found == 10 and summary.files_read == 4
    assert summary.skipped == {"not-a-file": 2, "link-loop": 2, "broken-link": 1,
                               "too-long": 1}


def test_an_unreadable_folder_is_counted_and_a_second_link_is_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.mid").write_bytes(one_note_file(480))
    (tmp_path / "one").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "two").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "locked").mkdir()
    deny_listing(monkeypatch, "locked")
    scan = scan_midi_folder(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in scan.files] == ["elsewhere/x.mid"]
    assert sorted((Path(e.path).name, e.reason) for e in scan.skipped) == [
        ("locked", "unreadable"), ("one", "duplicate"), ("two", "duplicate")]


# -- benchmark pickles -------------------------------------------------------------------------
def test_a_pickle_that_repeats_one_reference_is_refused_at_once(tmp_path: Path) -> None:
    step = [60, 64, 67]
    piece = [step] * 50_000  # the pickle stores the step once and refers to it again
    path = tmp_path / "bomb.pickle"
    path.write_bytes(pickle.dumps({"train": [piece] * 150_000}, protocol=2))
    assert path.stat().st_size < 500_000  # 7.5 billion steps in 400 KB
    began = time.monotonic()
    with pytest.raises(DataError, match="more than 10,000,000 steps and pitches") as caught:
        load_benchmark(path)
    assert time.monotonic() - began < 5.0  # generous: without the limit, minutes and GBs
    assert str(path) in str(caught.value)


def test_shared_steps_within_the_limits_load_as_json_does(tmp_path: Path) -> None:
    chord, rest = [60, 64], []
    data = {"train": [[chord, chord, rest, chord]] * 3, "test": [[[72]]]}
    path = tmp_path / "shared.pickle"
    path.write_bytes(pickle.dumps(data, protocol=4))
    assert read_benchmark_data(path) == json.loads(json.dumps(data))
    with pytest.raises(DataError, match="more than 12 steps and pitches"):
        validate_benchmark(data, path, max_cells=12)  # 3 x (4 steps + 6 pitches) + 2
    assert validate_benchmark(data, path, max_cells=32)["test"] == [[[72]]]
    long_piece = {"train": [[[60]] * (MAX_PIECE_STEPS + 1)]}
    with pytest.raises(DataError, match="steps, more than the"):
        validate_benchmark(long_piece, path)


def test_a_benchmark_file_is_read_only_if_regular_and_bounded(tmp_path: Path) -> None:
    fifo = tmp_path / "set.json"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not-a-file"):
        read_benchmark_data(fifo)  # would block for ever if opened


# -- sheet music -----------------------------------------------------------------------------
def test_export_refuses_more_than_sheet_music_is_written_for(tmp_path: Path) -> None:
    """A note at quarter 19,999 is within the reader's limit, but as notation it would be
    5,000 bars, which music21 takes most of an hour over."""
    pytest.importorskip("music21")
    path = tmp_path / "late.mid"
    path.write_bytes(one_note_file(480 * 19_999))
    result, seconds = invoke_timed(["export", str(path)])
    assert seconds < 5.0
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "late.mid" in result.output and "8,192 sheet music is written for" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["late.mid"]
    many = Score(make_notes(np.arange(MAX_NOTATION_NOTES + 1) % 64,
                            np.ones(MAX_NOTATION_NOTES + 1), 60), 4, name="many")
    with pytest.raises(NotationError, match="many: 50,001 notes"):
        musicxml_bytes(many)
