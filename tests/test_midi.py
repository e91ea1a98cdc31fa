"""The MIDI layer: every error path, folder scanning, writing, quantisation, metre filtering.

Every test file is built in code under ``tmp_path``; nothing here needs the shared data.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import symusic
from conftest import real_piece_paths

from cadenza.errors import MidiError
from cadenza.midi import (
    ReadOptions,
    find_midi_files,
    load_piece,
    midi_bytes,
    read_folder,
    read_midi,
    to_symusic,
    write_midi,
)
from cadenza.score import (
    NOTE_DTYPE,
    Marker,
    Score,
    Tempo,
    TimeSignature,
    filter_time_signatures,
    make_notes,
    quantise,
    remove_overlaps,
    section_cuts,
)


# -- helpers ---------------------------------------------------------------------------------
def scale_score(n: int = 32, tpq: int = 4, name: str = "scale") -> Score:
    """``n`` sixteenth notes climbing from middle C, in 4/4 at 100 qpm."""
    return Score(
        notes=make_notes(np.arange(n) * tpq // 4, [tpq // 4] * n, 60 + np.arange(n) % 24),
        ticks_per_quarter=tpq,
        tempos=(Tempo(0, 100.0),),
        time_signatures=(TimeSignature(0, 4, 4),),
        name=name,
    )


def write_scale(path: Path, n: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_midi(scale_score(n), path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_bad_files(folder: Path) -> dict[str, str]:
    """One file of every kind the reader rejects; returns {file name: expected reason}."""
    folder.mkdir(parents=True, exist_ok=True)
    good = midi_bytes(scale_score(64))
    (folder / "corrupt.mid").write_bytes(good[:14] + b"\xff\x13garbage" * 20)
    (folder / "truncated.mid").write_bytes(good[: len(good) // 2])
    write_midi(Score(np.empty(0, NOTE_DTYPE), 480, name="silent"), folder / "no_notes.mid")
    drums = to_symusic(scale_score(16))
    drums.tracks[0].is_drum = True
    drums.dump_midi(folder / "drums_only.mid")
    (folder / "text.mid").write_text("this is a text file, not MIDI\n")
    (folder / "zero_bytes.mid").write_bytes(b"")
    return {
        "corrupt.mid": "corrupt",
        "truncated.mid": "corrupt",
        "no_notes.mid": "empty",
        "drums_only.mid": "empty",
        "text.mid": "not-midi",
        "zero_bytes.mid": "not-midi",
    }


# -- error paths of read_midi ------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["corrupt.mid", "truncated.mid", "no_notes.mid", "drums_only.mid", "text.mid",
     "zero_bytes.mid"],
)
def test_bad_file_raises_midi_error_with_file_and_reason(tmp_path: Path, name: str) -> None:
    expected = make_bad_files(tmp_path)[name]
    with pytest.raises(MidiError) as info:
        read_midi(tmp_path / name)
    assert info.value.reason == expected
    assert info.value.path == str(tmp_path / name)
    assert str(tmp_path / name) in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize("fraction", [0.5, 0.1])
def test_real_file_cut_short_is_corrupt(tmp_path: Path, fraction: float) -> None:
    real = real_piece_paths()
    if not real:
        pytest.skip("piano-midi.de corpus not found")
    data = real[0].read_bytes()
    path = tmp_path / real[0].name
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(MidiError) as info:
        read_midi(path)
    assert info.value.reason == "corrupt" and real[0].name in str(info.value)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(MidiError) as info:
        read_midi(tmp_path / "nowhere.mid")
    assert info.value.reason == "not-found"
    assert "nowhere.mid" in str(info.value)


def test_folder_named_like_midi_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "x.mid").mkdir()
    with pytest.raises(MidiError) as info:
        read_midi(tmp_path / "x.mid")
    assert info.value.reason == "not-a-file"
    assert "x.mid" in str(info.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can read a chmod 000 file")
def test_file_without_permission_is_unreadable(tmp_path: Path) -> None:
    path = write_scale(tmp_path / "locked.mid")
    path.chmod(0)
    try:
        with pytest.raises(MidiError) as info:
            read_midi(path)
        assert info.value.reason == "unreadable"
    finally:
        path.chmod(0o644)


def test_missing_folder_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(MidiError) as info:
        read_folder(tmp_path / "absent")
    assert info.value.reason == "not-found"


# -- read_folder -----------------------------------------------------------------------------
def test_read_folder_skips_bad_files_with_one_warning_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expected = make_bad_files(tmp_path / "bad")
    write_scale(tmp_path / "good" / "a.mid")
    write_scale(tmp_path / "good" / "b.mid", n=48)
    with caplog.at_level(logging.WARNING, logger="cadenza.midi"):
        scores, summary = read_folder(tmp_path)
    assert [s.name for s in scores] == ["a", "b"]
    assert summary.files_found == 2 + len(expected)
    assert summary.files_read == 2
    assert summary.notes == 32 + 48
    assert dict(summary.skipped) == {"corrupt": 2, "empty": 2, "not-midi": 2}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(expected)
    for name in expected:
        assert sum(name in message for message in warnings) == 1, name
    assert sorted(Path(p).name for p, _ in summary.skipped_files) == sorted(expected)


def test_read_folder_recurses_and_accepts_suffixes_in_any_case(tmp_path: Path) -> None:
    for relative in ["top.mid", "UPPER.MID", "Mixed.Midi", "a/b/c/deep.midi"]:
        write_scale(tmp_path / relative)
    (tmp_path / "notes.txt").write_text("not a MIDI file")
    (tmp_path / "backup.mid.bak").write_bytes(midi_bytes(scale_score()))
    found = [p.relative_to(tmp_path).as_posix() for p in find_midi_files(tmp_path)]
    assert found == ["Mixed.Midi", "UPPER.MID", "a/b/c/deep.midi", "top.mid"]
    scores, summary = read_folder(tmp_path)
    assert summary.files_read == 4 and not summary.skipped
    assert sorted(s.name for s in scores) == ["Mixed", "UPPER", "deep", "top"]


def test_linked_folders_are_followed_once(tmp_path: Path) -> None:
    write_scale(tmp_path / "elsewhere" / "x.mid")
    corpus = tmp_path / "corpus"
    write_scale(corpus / "own" / "y.mid")
    (corpus / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (corpus / "own" / "loop").symlink_to(corpus, target_is_directory=True)  # back up the tree
    found = [p.relative_to(corpus).as_posix() for p in find_midi_files(corpus)]
    assert found == ["linked/x.mid", "own/y.mid"]


def test_unicode_file_names(tmp_path: Path) -> None:
    names = ["Dvořák/Humoreska – č. 7.mid", "日本の歌.mid", "Ünïcödé ♫.MID"]
    for name in names:
        write_scale(tmp_path / name)
    scores, summary = read_folder(tmp_path)
    assert summary.files_read == 3
    assert sorted(s.name for s in scores) == sorted(Path(n).stem for n in names)


def test_reading_never_changes_input_files(tmp_path: Path) -> None:
    make_bad_files(tmp_path)
    write_scale(tmp_path / "good.mid")
    before = {p: (sha256(p), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    read_folder(tmp_path, ReadOptions(time_signatures=None))
    load_piece(tmp_path / "good.mid")
    after = {p: (sha256(p), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert after == before


def test_time_signature_filter_rejects_piece_with_no_kept_metre(tmp_path: Path) -> None:
    waltz = scale_score().copy_with(time_signatures=(TimeSignature(0, 3, 4),))
    write_midi(waltz, tmp_path / "waltz.mid")
    with pytest.raises(MidiError) as info:
        load_piece(tmp_path / "waltz.mid", ReadOptions(time_signatures=("4/4",)))
    assert info.value.reason == "time-signature"
    score, _ = load_piece(tmp_path / "waltz.mid", ReadOptions(time_signatures=None))
    assert score.num_notes == 32


# -- writing ---------------------------------------------------------------------------------
def test_write_midi_round_trip(tmp_path: Path) -> None:
    score = Score(
        notes=make_notes([0, 0, 480, 960, 1440], [480, 960, 240, 480, 960],
                         [48, 60, 64, 67, 72], [30, 60, 90, 100, 127]),
        ticks_per_quarter=480,
        tempos=(Tempo(0, 90.0), Tempo(960, 140.0)),
        time_signatures=(TimeSignature(0, 3, 4), TimeSignature(1440, 4, 4)),
        markers=(Marker(960, "cadenza: generated from here"),),
        name="round",
    )
    path = write_midi(score, tmp_path / "round.mid")
    back = read_midi(path)
    assert back.ticks_per_quarter == 480
    np.testing.assert_array_equal(back.notes, score.notes)
    assert [t.tick for t in back.tempos] == [0, 960]
    # MIDI stores whole microseconds per quarter: rounding moves qpm by at most ~1e-6.
    assert [t.qpm for t in back.tempos] == pytest.approx([90.0, 140.0], rel=2e-6)
    assert back.time_signatures == score.time_signatures
    assert back.markers == score.markers


def test_write_midi_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_scale(tmp_path / "keep.mid")
    original = path.read_bytes()
    with pytest.raises(MidiError) as info:
        write_midi(scale_score(8), path)
    assert info.value.reason == "exists" and "keep.mid" in str(info.value)
    assert path.read_bytes() == original
    write_midi(scale_score(8), path, overwrite=True)
    assert read_midi(path).num_notes == 8
    assert not [p for p in tmp_path.iterdir() if p.name != "keep.mid"], "temporary file left"


def test_symusic_reads_what_cadenza_writes(tmp_path: Path) -> None:
    path = write_scale(tmp_path / "x.mid", n=12)
    assert symusic.Score(str(path)).note_num() == 12


# -- quantisation ----------------------------------------------------------------------------
def test_quantise_rounds_to_nearest_step() -> None:
    # 480 ticks per quarter, 4 steps per quarter: one step is 120 ticks.
    raw = Score(make_notes([59, 60, 119, 485, 1000], [120, 120, 240, 355, 130],
                           [60, 62, 64, 65, 67]), 480, name="raw")
    q = quantise(raw, 4)
    assert q.ticks_per_quarter == 4
    by_pitch = {int(n["pitch"]): (int(n["start"]), int(n["duration"])) for n in q.notes}
    assert by_pitch[60] == (0, 1)  # 59 -> 0.49 -> 0; end 179 -> 1.49 -> 1
    assert by_pitch[62] == (1, 1)  # 60 -> 0.5 rounds up; end 180 -> 1.5 -> 2
    assert by_pitch[64] == (1, 2)  # 119 -> 0.99 -> 1; end 359 -> 2.99 -> 3
    assert by_pitch[65] == (4, 3)  # 485 -> 4.04 -> 4; end 840 -> 7
    assert by_pitch[67] == (8, 1)  # 1000 -> 8.33 -> 8; end 1130 -> 9.4 -> 9


def test_quantise_gives_short_notes_one_step() -> None:
    raw = Score(make_notes([0, 240, 250], [10, 1, 0], [60, 61, 62]), 480)
    q = quantise(raw, 4)
    assert q.notes["duration"].tolist() == [1, 1, 1]
    assert q.notes["start"].tolist() == [0, 2, 2]


def test_quantise_removes_overlaps_and_duplicates() -> None:
    raw = Score(
        make_notes(
            [0, 240, 0, 0, 960],
            [480, 480, 240, 720, 120],
            [60, 60, 64, 64, 67],
        ),
        480,
    )
    q = quantise(raw, 4)
    notes = {(int(n["pitch"]), int(n["start"])): int(n["duration"]) for n in q.notes}
    # Pitch 60 struck again at step 2 while sounding: the first note is cut there.
    assert notes[(60, 0)] == 2 and notes[(60, 2)] == 4
    # Two 64s at the same onset: only the longer (6 steps) survives.
    assert notes[(64, 0)] == 6 and len(q.notes) == 4
    # No two notes of one pitch overlap any more.
    for pitch in (60, 64, 67):
        same = q.notes[q.notes["pitch"] == pitch]
        ends = same["start"] + same["duration"]
        assert np.all(ends[:-1] <= same["start"][1:])


def test_quantise_moves_tempo_and_metre_to_the_grid() -> None:
    raw = Score(make_notes([0], [1920], [60]), 480,
                tempos=(Tempo(0, 100.0), Tempo(485, 120.0), Tempo(490, 130.0)),
                time_signatures=(TimeSignature(0, 4, 4), TimeSignature(1925, 3, 4)),
                markers=(Marker(1000, "here"),))
    q = quantise(raw, 4)
    assert q.tempos == (Tempo(0, 100.0), Tempo(4, 130.0))  # the last change at a step wins
    assert q.time_signatures == (TimeSignature(0, 4, 4), TimeSignature(16, 3, 4))
    assert q.markers == (Marker(8, "here"),)


def test_remove_overlaps_keeps_sorted_order_and_empty_input() -> None:
    assert len(remove_overlaps(np.empty(0, NOTE_DTYPE))) == 0
    notes = remove_overlaps(make_notes([4, 0, 0], [4, 8, 2], [60, 60, 50]))
    assert notes["start"].tolist() == [0, 0, 4]
    assert notes["pitch"].tolist() == [50, 60, 60]
    assert notes["duration"].tolist() == [2, 4, 4]


# -- time-signature filtering ----------------------------------------------------------------
def three_section_score() -> Score:
    """4/4 bar (steps 0-15), 3/4 bar (16-27), 4/4 bar (28-43), at 4 steps per quarter."""
    return Score(
        notes=make_notes(
            [0, 8, 14, 16, 20, 28, 40],
            [8, 8, 6, 12, 4, 16, 4],
            [60, 62, 64, 50, 52, 67, 69],
        ),
        ticks_per_quarter=4,
        tempos=(Tempo(0, 100.0), Tempo(20, 80.0)),
        time_signatures=(TimeSignature(0, 4, 4), TimeSignature(16, 3, 4),
                         TimeSignature(28, 4, 4)),
        markers=(Marker(2, "m"),),
    )


def test_filter_drops_sections_and_keeps_bars_aligned() -> None:
    filtered, report = filter_time_signatures(three_section_score(), ("4/4",))
    assert report.dropped_signatures == ("3/4",)
    assert report.dropped_ticks == 12 and report.kept_ticks == 32
    assert report.dropped_notes == 2  # the two notes starting in the 3/4 bar
    rows = [(int(n["start"]), int(n["duration"]), int(n["pitch"])) for n in filtered.notes]
    # The note at 14 is clipped at the section end (16); the last bar moves back by 12
    # steps so it starts on a bar line (16 = one 4/4 bar).
    assert rows == [(0, 8, 60), (8, 8, 62), (14, 2, 64), (16, 16, 67), (28, 4, 69)]
    assert all(sig.label == "4/4" for sig in filtered.time_signatures)
    assert [s.tick for s in filtered.time_signatures] == [0, 16]
    # The tempo that was in force when the dropped section ended carries over.
    assert filtered.tempos == (Tempo(0, 100.0), Tempo(16, 80.0))


def test_filter_marks_the_cut_where_a_section_was_removed() -> None:
    """The two 4/4 bars around the removed 3/4 bar are not continuous music: a cut marker
    at the join, and the corpus arrays are split there."""
    from cadenza.data.corpus import split_at_cuts
    from cadenza.representations import Events, PianoRoll
    from cadenza.score import SECTION_CUT, section_cuts

    filtered, _ = filter_time_signatures(three_section_score(), ("4/4",))
    assert [m.text for m in filtered.markers] == [SECTION_CUT]
    assert section_cuts(filtered) == [16]
    roll = PianoRoll().encode(filtered)
    parts = split_at_cuts(roll, section_cuts(filtered), PianoRoll())
    assert [len(p) for p in parts] == [16, len(roll) - 16]
    np.testing.assert_array_equal(np.concatenate(parts), roll)
    events = Events(Events.config_class(steps_per_quarter=4))  # type: ignore[call-arg]
    events.fit([filtered])
    encoded = events.encode(filtered)
    first, second = split_at_cuts(encoded, [16], events)
    assert events.onset_tick(encoded, len(first) - 1) < 16 <= events.onset_tick(encoded, len(first))
    assert len(first) + len(second) == len(encoded)
    # A removed section at the very start or end is no cut: nothing is joined there.
    start_only, _ = filter_time_signatures(three_section_score(), ("3/4",))
    assert section_cuts(start_only) == []


def test_original_meter_rule_stops_at_the_first_other_signature() -> None:
    """Numerator 2 or 4 from the start; reading stops at the 3/4 bar, the later 4/4 is lost,
    and 2/4 counts as kept."""
    filtered, report = filter_time_signatures(three_section_score(), ("original",))
    assert report.kept_ticks == 16 and report.dropped_ticks == 28
    assert report.dropped_signatures == ("3/4", "4/4")
    assert [int(n["start"]) for n in filtered.notes] == [0, 8, 14]
    assert section_cuts(filtered) == []
    two_four = three_section_score().copy_with(
        time_signatures=(TimeSignature(0, 4, 4), TimeSignature(16, 2, 4),
                         TimeSignature(24, 6, 8), TimeSignature(36, 4, 4)))
    filtered, report = filter_time_signatures(two_four, ("original",))
    assert report.kept_ticks == 24
    assert ReadOptions.parse_meters("original") == ("original",)
    ReadOptions(time_signatures=("original",))  # accepted


def test_filter_keeps_only_the_allowed_middle_section() -> None:
    filtered, report = filter_time_signatures(three_section_score(), ("3/4",))
    assert report.dropped_signatures == ("4/4",)
    assert report.kept_ticks == 12
    assert [(int(n["start"]), int(n["pitch"])) for n in filtered.notes] == [(0, 50), (4, 52)]
    assert filtered.time_signatures == (TimeSignature(0, 3, 4),)


def test_filter_with_everything_allowed_is_identity() -> None:
    score = three_section_score()
    for allowed in (None, ("4/4", "3/4")):
        filtered, report = filter_time_signatures(score, allowed)
        assert filtered is score
        assert report.dropped_ticks == 0 and report.dropped_notes == 0


def test_filter_treats_missing_signature_as_four_four() -> None:
    score = three_section_score().copy_with(time_signatures=())
    filtered, report = filter_time_signatures(score, ("4/4",))
    assert filtered is score and report.dropped_ticks == 0
    _, report = filter_time_signatures(score, ("3/4",))
    assert report.dropped_signatures == ("4/4",)


def test_a_score_named_after_a_file_name_that_is_not_utf8_is_written(tmp_path: Path) -> None:
    """Names read from such a file hold surrogates (``os.fsdecode``); the track name gets
    U+FFFD for them instead of the MIDI library refusing the whole file."""
    import os

    from cadenza.midi import read_midi, write_midi
    from cadenza.score import Score, make_notes

    score = Score(make_notes([0, 4], [4, 4], [60, 64]), 4, name=os.fsdecode(b"odd-\xff-name"))
    path = write_midi(score, tmp_path / "odd.mid")
    assert read_midi(path).num_notes == 2
