"""Files that once stopped a batch or ate the memory: each is refused with a reason, by name."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hostile_midi import one_note_file, track_file, vlq
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.errors import MidiError
from cadenza.midi import ReadOptions, load_piece, read_file_bytes, write_midi
from cadenza.score import Score, TimeSignature, make_notes


@pytest.mark.parametrize(("data", "reason"), [
    (one_note_file(0, division=0), "corrupt"),
    (one_note_file(0, division=0xE728), "unsupported"),  # SMPTE: 25 fps, 40 ticks
    (one_note_file(2**24, division=1), "too-long"),  # a 30-byte file, 2,330 hours long
    (one_note_file(0x0FFFFFFF, repeats=20), "too-long"),  # ticks past int32
])
def test_bad_headers_and_huge_ticks_are_refused_by_name(tmp_path: Path, data: bytes,
                                                        reason: str) -> None:
    path = tmp_path / "bad.mid"
    path.write_bytes(data)
    with pytest.raises(MidiError) as caught:
        load_piece(path, ReadOptions(time_signatures=None))
    assert caught.value.reason == reason and str(path) in str(caught.value)


def test_the_length_limit_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "long.mid"
    path.write_bytes(one_note_file(480 * 100))  # a note after 100 quarters
    load_piece(path, ReadOptions(time_signatures=None))
    with pytest.raises(MidiError, match="too-long"):
        load_piece(path, ReadOptions(time_signatures=None, max_quarters=50))


def test_only_regular_files_of_bounded_size_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mid"
    os.mkfifo(fifo)
    with pytest.raises(MidiError, match="not-a-file"):
        read_file_bytes(fifo)  # would block for ever if opened
    zero = tmp_path / "zero.mid"
    zero.symlink_to("/dev/zero")
    with pytest.raises(MidiError, match="not-a-file"):
        read_file_bytes(zero)  # would be read until memory ran out
    big = tmp_path / "big.mid"
    big.write_bytes(b"MThd" + bytes(100))
    with pytest.raises(MidiError, match="too-large"):
        read_file_bytes(big, max_bytes=64)
    assert read_file_bytes(big, max_bytes=104) == big.read_bytes()


def test_a_batch_skips_and_counts_bad_files_and_odd_names(tmp_path: Path) -> None:
    """Division 0, SMPTE, a huge tick and a name that is not UTF-8 beside good files: the
    folder is read, the bad files counted by reason, the odd name kept."""
    folder = tmp_path / "midi"
    for i in range(6):
        starts = np.arange(0, 64, 2)
        score = Score(make_notes(starts, np.full(len(starts), 2), 60 + i + starts % 12), 4,
                      time_signatures=(TimeSignature(0, 4, 4),))
        write_midi(score, folder / f"ok{i}.mid")
    good = (folder / "ok0.mid").read_bytes()
    (folder / "ok0.mid").unlink()
    with open(os.fsencode(folder) + b"/odd\xff.mid", "wb") as handle:
        handle.write(good)
    (folder / "div0.mid").write_bytes(one_note_file(0, division=0))
    (folder / "smpte.mid").write_bytes(one_note_file(0, division=0xE728))
    (folder / "huge.mid").write_bytes(one_note_file(2**24, division=1))
    result = CliRunner().invoke(app, ["preprocess", str(folder), "--meters", "all",
                                      "--workers", "2", "--no-cache", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "6 of 9" in result.output
    assert "too-long 1" in result.output and "corrupt 1" in result.output
    assert "unsupported 1" in result.output


def test_a_tempo_of_zero_is_ignored(tmp_path: Path) -> None:
    """A set-tempo event of 0 microseconds per quarter would be an infinite tempo."""
    events = (b"\x00\xff\x51\x03\x00\x00\x00" + b"\x00\x90\x3c\x40" + vlq(480)
              + b"\x80\x3c\x40" + b"\x00\xff\x2f\x00")
    data = track_file(events)
    path = tmp_path / "zero-tempo.mid"
    path.write_bytes(data)
    score, _ = load_piece(path, ReadOptions(time_signatures=None))
    assert all(np.isfinite(t.qpm) and t.qpm > 0 for t in score.tempos)
    out = write_midi(score, tmp_path / "again.mid")
    again, _ = load_piece(out, ReadOptions(time_signatures=None))
    assert all(np.isfinite(t.qpm) for t in again.tempos)
