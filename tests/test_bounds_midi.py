"""One length and size limit for every MIDI file cadenza reads: the commands that read a
file (render, export, plot, inspect, harmonise, evaluate) and the web page's upload refuse a
hostile one at once, by name, in one line, writing nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hostile_midi import note_held_past_int32, one_note_file
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.errors import MidiError
from cadenza.generation.primerbank import primer_from_file
from cadenza.midi import (
    MAX_FILE_BYTES,
    MAX_QUARTERS,
    ReadOptions,
    load_piece,
    parse_midi_bytes,
    read_midi,
)
from cadenza.representations import PianoRoll

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
    began = time.monotonic()
    result = CliRunner().invoke(app, [*command, str(path)])
    assert time.monotonic() - began < 5.0  # generous: the refusal is immediate
    assert result.exit_code == 2, result.output
    assert "too-long" in result.output and "Traceback" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["far.mid"]
