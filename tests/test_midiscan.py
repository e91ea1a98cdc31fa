"""Counting note-ons without parsing: exact on real files, bounded, and strict on damage."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from conftest import REAL_PIECES
from hostile_midi import (
    MAX_DELTA,
    note_held_past_int32,
    one_note_file,
    silence_after_a_note,
    track_file,
)

from cadenza.errors import MidiError
from cadenza.midi import midi_bytes, parse_midi_bytes, read_file_bytes
from cadenza.midiscan import count_note_ons, last_tick
from cadenza.score import Score, make_notes


@pytest.mark.parametrize("name", REAL_PIECES)
def test_the_count_matches_the_parsed_notes(piano_midi_dir: Path, name: str) -> None:
    data = read_file_bytes(piano_midi_dir / name)
    assert count_note_ons(data, 10**9, name) == parse_midi_bytes(data, name).num_notes


def test_written_files_and_program_round_trip() -> None:
    score = Score(notes=make_notes([0, 4, 8], [4, 4, 4], [60, 64, 67], 70),
                  ticks_per_quarter=4, program=73)
    data = midi_bytes(score)
    assert count_note_ons(data, 100) == 3
    assert parse_midi_bytes(data).program == 73


def test_counting_stops_past_the_limit() -> None:
    events = b"\x00\x90\x3c\x40\x10\x3c\x00" + b"\x00\x3c\x40\x10\x3c\x00" * 9999
    data = track_file(events + b"\x00\xff\x2f\x00")
    assert count_note_ons(data, 10**6) == 10_000
    assert 100 < count_note_ons(data, 100) <= 102


@pytest.mark.parametrize(("events", "words"), [
    (b"\x00\x3c\x40", "no running status"),
    (b"\x00\x90\x3c", "cut off"),
    (b"\x00\xf2\x00\x00", "system message"),
    (b"\xff\xff\xff\xff\xff", "longer than 4 bytes"),
])
def test_damaged_tracks_are_refused_by_name(events: bytes, words: str) -> None:
    with pytest.raises(MidiError, match=words) as info:
        count_note_ons(track_file(events), 100, "bad.mid")
    assert "bad.mid" in str(info.value)


def test_not_midi_is_refused() -> None:
    with pytest.raises(MidiError, match="no MThd header"):
        count_note_ons(b"RIFF....", 10)


def test_the_last_tick_is_exact_past_32_bits() -> None:
    assert last_tick(one_note_file(MAX_DELTA)) == MAX_DELTA + 10
    assert last_tick(note_held_past_int32()) == 9 * MAX_DELTA > 2**31
    assert last_tick(silence_after_a_note(2**27)) == 10 + 2**27
    chunks = one_note_file(100)[14:] + one_note_file(5000)[14:]  # two MTrk chunks
    two_tracks = b"MThd" + struct.pack(">IHHH", 6, 1, 2, 480) + chunks
    assert last_tick(two_tracks) == 5010  # the longest track's
