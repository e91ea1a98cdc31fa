"""Sheet music: scores as MusicXML (read back with music21) and as Verovio SVG pages.

What the SVG counts mean: ``count_svg_notes`` counts the note heads Verovio draws (one per
element of class ``note``, chord members included) less those that only continue a tie,
so for cadenza's scores it is the number of MIDI notes shown. ``tied=True`` counts every
head; the tests check both against counts worked out by hand.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.cli.export import svg_names
from cadenza.controls import Key, detect_key
from cadenza.errors import NotationError
from cadenza.midi import write_midi
from cadenza.score import NOTE_DTYPE, Score, Tempo, TimeSignature, make_notes, quantise

music21 = pytest.importorskip("music21")
pytest.importorskip("verovio")

from cadenza.notation import (  # noqa: E402  (after the optional imports are checked)
    count_svg_notes,
    engrave,
    musicxml_bytes,
    score_to_stream,
    signature_key,
    svg_pages,
)

Q = 4  # ticks per quarter of the hand-built scores: one tick per 16th


def _score(
    rows: list[tuple[int, int, int]],
    signatures: tuple[TimeSignature, ...] = (),
    ticks_per_quarter: int = Q,
) -> Score:
    """A score of ``(start, duration, pitch)`` rows."""
    start, duration, pitch = zip(*rows, strict=True)
    return Score(make_notes(list(start), list(duration), list(pitch)), ticks_per_quarter,
                 tempos=[Tempo(0, 96.0)], time_signatures=signatures, name="test piece")


def _read_back(score: Score) -> tuple[object, list[int]]:
    """The MusicXML of ``score`` parsed by music21, and the MIDI pitches of the notes it
    strikes: chord members one by one, a note head that continues a tie left out."""
    parsed = music21.converter.parseData(musicxml_bytes(score), format="musicxml")
    pitches = []
    for element in parsed.recurse().notes:
        members = list(element.notes) if element.isChord else [element]
        for member in members:
            tie = member.tie or element.tie
            if tie is None or tie.type == "start":
                pitches.append(member.pitch.midi)
    return parsed, pitches


def _svg_counts(score: Score) -> tuple[int, int]:
    """Notes struck and note heads drawn, over every SVG page of ``score``."""
    pages = svg_pages(musicxml_bytes(score))
    return (sum(count_svg_notes(page) for page in pages),
            sum(count_svg_notes(page, tied=True) for page in pages))


def _check(score: Score, ties: int | None = 0) -> object:
    """MusicXML and SVG show every note of ``score`` once. ``ties`` note heads more than
    the notes continue a tie (``None``: as many as music21 reads from the MusicXML)."""
    parsed, pitches = _read_back(score)
    assert Counter(pitches) == Counter(score.notes["pitch"].tolist())
    assert len(parsed.parts) == 2
    assert parsed.recurse().getElementsByClass("KeySignature").first() is not None
    assert parsed.recurse().getElementsByClass("TimeSignature").first() is not None
    heads_in_xml = sum(len(n.pitches) for n in parsed.recurse().notes)
    struck, drawn = _svg_counts(score)
    assert struck == score.num_notes
    assert drawn == heads_in_xml
    if ties is not None:
        assert drawn == score.num_notes + ties
    return parsed


# -- the score as notation -------------------------------------------------------------------
def test_a_melody_in_g_major() -> None:
    melody = [67, 69, 71, 72, 74, 72, 71, 66, 67]
    score = _score([(i * Q, Q, p) for i, p in enumerate(melody[:-1])] + [(8 * Q, 4 * Q, 67)])
    parsed = _check(score)
    key = parsed.recurse().getElementsByClass("KeySignature").first()
    assert key.sharps == 1
    assert parsed.recurse().getElementsByClass("TimeSignature").first().ratioString == "4/4"
    mark = parsed.recurse().getElementsByClass("MetronomeMark").first()
    assert mark is not None and mark.number == 96
    treble, bass = parsed.parts
    assert len(treble.recurse().notes) == len(melody)
    assert len(bass.recurse().notes) == 0  # no note below middle C: a bass staff of rests
    assert treble.recurse().getElementsByClass("Clef").first().sign == "G"
    assert bass.recurse().getElementsByClass("Clef").first().sign == "F"


def test_chords_in_both_hands() -> None:
    rows = []
    for bar, (root, triad) in enumerate([(48, (60, 64, 67)), (53, (65, 69, 72)),
                                          (55, (62, 67, 71)), (48, (60, 64, 67))]):
        rows += [(bar * 4 * Q + beat * Q, Q, p) for beat in range(4) for p in triad]
        rows += [(bar * 4 * Q, 4 * Q, root), (bar * 4 * Q, 4 * Q, root - 12)]
    score = _score(rows)
    parsed = _check(score)
    chords = list(parsed.recurse().getElementsByClass("Chord"))
    assert len(chords) == 16 + 4  # every right-hand beat, and each bar's bass octave


def test_overlapping_notes_of_different_lengths_keep_their_lengths() -> None:
    rows = [
        (0, 16, 72),  # a whole note...
        (0, 4, 76), (4, 4, 77), (8, 8, 79),  # ...under a melody that starts with it
        (2, 6, 64),  # a third voice from the second 8th
        (16, 8, 72), (16, 4, 67), (20, 4, 69), (24, 8, 60), (24, 8, 64),
        (0, 12, 48), (4, 4, 55), (8, 8, 43),  # left hand: held and moving
    ]
    score = _score(rows)
    parsed = _check(score)
    lengths = Counter()
    for note in parsed.stripTies().recurse().notes:
        for p in note.pitches:
            lengths[(p.midi, float(note.quarterLength))] += 1
    expected = Counter((p, d / Q) for _, d, p in rows)
    assert lengths == expected


def test_notes_across_bar_lines_are_tied_and_counted_once() -> None:
    rows = [
        (12, 8, 72),  # beat 4 to beat 2 of bar 2: two heads
        (12, 8, 76),  # a chord across the bar line: two more heads
        (28, 24, 67),  # beat 4 of bar 2 to beat 2 of bar 4: 3 heads (quarter, whole, quarter)
        (52, 5, 74),  # 5 sixteenths from beat 2 of bar 4: a quarter tied to a 16th, 2 heads
        (0, 36, 48),  # left hand: 9 quarters, a whole, a whole and a quarter, 3 heads
    ]
    score = _score(rows)
    _check(score, ties=1 + 1 + 2 + 1 + 2)


def test_other_metres_and_a_change_of_metre() -> None:
    rows = [(i * 2, 2, 60 + (i % 5)) for i in range(24)] + [(0, 12, 48), (12, 12, 50)]
    score = _score(rows, signatures=(TimeSignature(0, 3, 4), TimeSignature(24, 6, 8)))
    parsed = _check(score)
    labels = [ts.ratioString for ts in parsed.parts[0].recurse().getElementsByClass(
        "TimeSignature")]
    assert labels == ["3/4", "6/8"]


def test_flat_keys_are_spelt_with_flats() -> None:
    scale = [65, 67, 69, 70, 72, 74, 76, 77, 70, 65]  # F major, B-flat included
    score = _score([(i * 2 * Q, 2 * Q, p) for i, p in enumerate(scale)]
                   + [(0, 8 * Q, 53), (8 * Q, 8 * Q, 48), (16 * Q, 4 * Q, 53)])
    parsed = _check(score, ties=2)  # the bass's two 2-bar notes
    assert parsed.recurse().getElementsByClass("KeySignature").first().sharps == -1
    names = {p.name for n in parsed.recurse().notes for p in n.pitches}
    assert "B-" in names and "A#" not in names


def test_the_key_signature_follows_the_written_notes_not_the_opening() -> None:
    """A bar of A major, then naturals over an A pedal: the detected key is A major (3
    sharps), but C major's scale covers far more of what is written, so no signature."""
    rows = [(0, 4 * Q, 45)] + [(i * Q, Q, p) for i, p in enumerate([69, 73, 76, 73])]
    rows += [(4 * Q + i * Q, Q, p) for i, p in enumerate([74, 72, 71, 69])]
    rows += [(4 * Q, 2 * Q, 52), (6 * Q, 2 * Q, 50)]
    rows += [(8 * Q + i * Q, Q, p) for i, p in enumerate([67, 65, 64, 71])]
    rows += [(8 * Q, 3 * Q, 47), (11 * Q, Q, 48)]
    score = _score(rows)
    assert detect_key(score.notes["pitch"], score.notes["duration"]) == Key(9, "major")
    parsed = _check(score)
    signatures = list(parsed.recurse().getElementsByClass("KeySignature"))
    assert signatures and all(s.sharps == 0 for s in signatures)
    names = {p.name for n in parsed.recurse().notes for p in n.pitches}
    assert {"C", "F", "G", "C#"} <= names  # naturals plain, the opening's C# marked


@pytest.mark.parametrize(("pitches", "durations", "expected"), [
    # Only A B D E G (G# rarer than G): C, G and D major cover as much; the fewest
    # accidentals win, and the notes' weight on A makes it A minor.
    ([69, 64, 71, 62, 67, 68], [8, 6, 3, 3, 3, 2], Key(9, "minor")),
    # D minor with B naturals and C sharps: C major covers a little more than F major's
    # scale, a near tie, so the key the notes suggest (one flat) is kept.
    ([62, 64, 65, 67, 69, 70, 71, 61, 60], [60, 20, 40, 20, 40, 10, 11, 10, 5],
     Key(2, "minor")),
    ([67, 69, 71, 72, 74, 76, 78, 66], [4, 1, 2, 1, 2, 1, 1, 1], Key(7, "major")),
    ([66, 68, 70, 71, 73, 75, 77], [1] * 7, Key(6, "major")),  # 6 sharps, not 6 flats
    ([], [], Key(0, "major")),
], ids=["tie-fewest-accidentals", "near-tie-keeps-detected", "g-major", "f-sharp", "empty"])
def test_signature_key(pitches: list[int], durations: list[int], expected: Key) -> None:
    assert signature_key(np.array(pitches, dtype=int), np.array(durations)) == expected


def _beam_groups(parsed: object) -> list[tuple[int, list[tuple[float, float]]]]:
    """Every beamed group of the MusicXML read back: its bar number and the (offset in
    the bar, length) of its notes, voice by voice."""
    groups = []
    for part in parsed.parts:
        for measure in part.getElementsByClass("Measure"):
            for voice in list(measure.voices) or [measure]:
                current: list[tuple[float, float]] | None = None
                for note in voice.notes:
                    beam = note.beams.getByNumber(1) if note.beams.beamsList else None
                    if beam is None:
                        assert current is None, f"bar {measure.number}: a beam left open"
                        continue
                    place = (float(note.getOffsetInHierarchy(measure)),
                             float(note.quarterLength))
                    if beam.type == "start":
                        assert current is None
                        current = [place]
                    else:
                        assert current is not None, f"bar {measure.number}: no beam start"
                        current.append(place)
                        if beam.type == "stop":
                            groups.append((measure.number, current))
                            current = None
                assert current is None, f"bar {measure.number}: a beam left open"
    return groups


def test_eighths_and_sixteenths_are_beamed_by_beat() -> None:
    eighths = [72, 74, 76, 77, 79, 77, 76, 74]
    rows = [(i * 2, 2, p) for i, p in enumerate(eighths)] + [(0, 16, 60)]  # with a held voice
    rows += [(16 + i, 1, 72 + i % 5) for i in range(16)]  # 16 sixteenths
    rows += [(32 + s, d, 76) for s, d in [(0, 2), (2, 1), (3, 1), (4, 1), (5, 2), (7, 1),
                                          (8, 3), (11, 1), (12, 4)]]  # mixed, a quarter
    rows += [(i * 2, 2, 48 + i % 3) for i in range(24)]  # left hand: eighths, bars 1-3
    rows += [(48 + i * 2, 2, 67 + i) for i in range(6)]  # bar 4 in 6/8: two groups of 3
    score = _score(rows, signatures=(TimeSignature(0, 4, 4), TimeSignature(48, 6, 8)))
    parsed = _check(score)
    groups = _beam_groups(parsed)
    beat = {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.5}  # quarter notes; dotted quarters in 6/8
    for bar, notes in groups:
        beats = {int(offset // beat[bar]) for offset, _ in notes}
        assert len(beats) == 1, f"bar {bar}: a beam crosses a beat: {notes}"
        ends = {int((offset + length - 1e-9) // beat[bar]) for offset, length in notes}
        assert ends == beats, f"bar {bar}: a beamed note runs past its beat: {notes}"
    sizes: dict[int, list[int]] = {}
    for bar, notes in groups:
        sizes.setdefault(bar, []).append(len(notes))
    assert sorted(sizes[1]) == [2] * 8  # right and left hand: a pair of eighths per beat
    assert sorted(sizes[2]) == [2] * 4 + [4] * 4  # left hand's pairs, four 16ths a beat
    assert sorted(sizes[3]) == [2] * 5 + [3, 3]  # 8-16-16, 16-8-16, dotted 8th-16th
    assert sizes[4] == [3, 3]
    beamed = sum(len(notes) for _, notes in groups)
    short = sum(1 for n in parsed.recurse().notes if n.quarterLength < 1)
    assert beamed == short  # no eighth or 16th left without its beat's beam


def test_unquantised_notes_snap_to_the_16th_grid() -> None:
    """A played performance at 480 ticks per quarter reads as the notes it means."""
    rng = np.random.default_rng(1)
    clean = [(i * 240, 240, 60 + i % 12) for i in range(16)] + [(0, 1920, 48), (1920, 1920, 43)]
    played = [(max(0, s + int(rng.integers(-20, 21))), d + int(rng.integers(-20, 21)), p)
              for s, d, p in clean]
    score = _score(played, ticks_per_quarter=480)
    _check(score)
    parsed, _ = _read_back(score)
    lengths = sorted(float(n.quarterLength) for n in parsed.stripTies().recurse().notes)
    assert lengths == sorted(d / 480 for _, d, _ in clean)


def test_the_stream_is_a_two_staff_piano_score() -> None:
    score = _score([(0, 4, 72), (0, 4, 40), (4, 12, 59)])
    stream = score_to_stream(score)
    assert isinstance(stream, music21.stream.Score)
    assert [type(p).__name__ for p in stream.parts] == ["PartStaff", "PartStaff"]
    group = stream.getElementsByClass("StaffGroup").first()
    assert group is not None and group.symbol == "brace"
    for part in stream.parts:
        measures = list(part.getElementsByClass("Measure"))
        assert len(measures) == 1
        assert measures[0].duration.quarterLength == 4  # the last bar is completed
    assert stream.parts[1].recurse().notes.first().pitch.midi == 40


def test_bach_chorale_from_the_music21_corpus() -> None:
    chorale = music21.corpus.parse("bach/bwv66.6").stripTies()
    rows = [(round(float(n.getOffsetInHierarchy(chorale)) * Q), round(float(n.quarterLength) * Q),
             p.midi) for n in chorale.recurse().notes for p in n.pitches]
    score = _score(rows)
    # Two voices on one pitch at once are one key on a piano: quantise keeps one of them.
    merged = quantise(score)
    assert 140 < merged.num_notes < len(rows)
    _check(merged, ties=None)  # the chorale has tied notes of its own


def test_a_long_piece_runs_over_several_pages() -> None:
    rows = [(i * Q, Q, 60 + (i * 5) % 24) for i in range(4 * 64)]
    rows += [(bar * 4 * Q, 4 * Q, 36 + bar % 12) for bar in range(64)]
    score = _score(rows)
    pages = svg_pages(musicxml_bytes(score))
    assert len(pages) > 1
    assert all(page.lstrip().startswith(("<?xml", "<svg")) for page in pages)
    assert sum(count_svg_notes(page) for page in pages) == score.num_notes
    # Stacked into one document (what the web page shows): well formed, every note once.
    joined = engrave(score)
    ElementTree.fromstring(joined.svg)
    assert count_svg_notes(joined.svg) == score.num_notes
    assert b"<score-partwise" in joined.musicxml


def test_the_web_page_score_is_engraved_for_a_wide_screen() -> None:
    """The studio's score is 1280 px wide, not an A4 page's 840: a 16-bar piece takes
    fewer, longer systems."""
    rows = [(i * Q // 2, Q // 2, 60 + (i * 3) % 14) for i in range(16 * 8)]
    rows += [(bar * 4 * Q, 4 * Q, 36 + bar % 12) for bar in range(16)]
    score = _score(rows)
    svg = engrave(score).svg
    root = ElementTree.fromstring(svg)
    assert root.get("width") == "1280px"
    printed = svg_pages(musicxml_bytes(score))
    assert len(printed) == 1 and 'width="840px"' in printed[0]
    assert svg.count('class="system"') < printed[0].count('class="system"') == 4
    assert count_svg_notes(svg) == score.num_notes


# -- errors and edges ------------------------------------------------------------------------
def test_an_empty_score_is_refused() -> None:
    empty = Score(np.zeros(0, dtype=NOTE_DTYPE), Q, name="silence")
    with pytest.raises(NotationError, match="silence: no notes"):
        musicxml_bytes(empty)


@pytest.mark.parametrize("missing", ["music21", "verovio"])
def test_a_missing_library_says_how_to_install_it(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    xml = musicxml_bytes(_score([(0, 4, 60)]))
    monkeypatch.setitem(sys.modules, missing, None)  # import now raises ImportError
    with pytest.raises(NotationError) as caught:
        if missing == "music21":
            musicxml_bytes(_score([(0, 4, 60)]))
        else:
            svg_pages(xml)
    assert str(caught.value) == (
        "sheet music needs music21 and verovio: pip install 'cadenza[notation]'"
    )


def test_verovio_refuses_what_is_not_musicxml() -> None:
    with pytest.raises(NotationError, match="verovio could not read"):
        svg_pages(b"this is not music")


def test_nothing_is_written_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    svg_pages(musicxml_bytes(_score([(0, 4, 60), (4, 4, 62)])))
    assert list(tmp_path.iterdir()) == []


def test_count_svg_notes_counts_notes_not_note_heads_or_tie_ends() -> None:
    svg = """<svg><g id="c1" class="chord">
      <g id="n1" class="note"><g id="h1" class="notehead"><use/></g></g>
      <g id="n2" class="note"><g id="h2" class="notehead"><use/></g></g></g>
      <g id="n3" class="note"><g class="notehead"/></g>
      <g id="t1" class="tie" data-startid="#n1" data-endid="#n3"><path/></g>
      <g id="t2" class="tie" data-startid="#n9" data-endid="#elsewhere"><path/></g>
    </svg>"""
    assert count_svg_notes(svg, tied=True) == 3
    assert count_svg_notes(svg) == 2  # n3 only continues n1
    assert count_svg_notes("<svg></svg>") == 0


# -- the command line ------------------------------------------------------------------------
def _midi(tmp_path: Path, name: str = "tune.mid") -> Path:
    score = Score(make_notes([0, 480, 960, 1440, 0], [480, 480, 480, 960, 1920],
                             [72, 74, 76, 79, 48]), 480, name="tune")
    return write_midi(score, tmp_path / name)


def test_export_writes_musicxml_by_default_and_never_overwrites(tmp_path: Path) -> None:
    midi = _midi(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(midi)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "tune.musicxml"
    parsed = music21.converter.parseData(written.read_bytes(), format="musicxml")
    assert len(parsed.parts) == 2
    assert sum(len(n.pitches) for n in parsed.stripTies().recurse().notes) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tune.mid", "tune.musicxml"]

    before = written.read_bytes()
    again = runner.invoke(app, ["export", str(midi)])
    assert again.exit_code == 2
    assert "already exists" in again.output and len(again.output.strip().splitlines()) == 1
    assert written.read_bytes() == before
    assert runner.invoke(app, ["export", str(midi), "--overwrite"]).exit_code == 0


def test_export_svg_and_musicxml_into_a_folder(tmp_path: Path) -> None:
    midi = _midi(tmp_path)
    out = tmp_path / "sheets"
    result = CliRunner().invoke(app, ["export", str(midi), "--svg", "--musicxml",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["tune.musicxml", "tune.svg"]
    assert count_svg_notes((out / "tune.svg").read_text()) == 5
    # --svg alone refuses, before writing anything, when its page is already there.
    again = CliRunner().invoke(app, ["export", str(midi), "--svg", "--out", str(out)])
    assert again.exit_code == 2 and "tune.svg already exists" in again.output


def test_svg_pages_are_numbered_when_there_are_several() -> None:
    assert svg_names("tune", 1) == ["tune.svg"]
    assert svg_names("tune", 3) == ["tune-1.svg", "tune-2.svg", "tune-3.svg"]


@pytest.mark.parametrize("content", [None, b"MThd\x00\x00\x00\x06garbage", b"not midi"])
def test_export_of_a_missing_or_bad_file_is_one_line(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "bad.mid"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(app, ["export", str(path), "--svg"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "bad.mid" in lines[0]
    assert lines[0].startswith("error:")
    assert not any(p.suffix in (".svg", ".musicxml") for p in tmp_path.iterdir())


def test_engraving_works_on_any_thread() -> None:
    """Verovio finds its fonts through a path set up on the main thread; the web server
    engraves on worker threads."""
    import threading

    score = _score([(i * Q, Q, 60 + i) for i in range(8)])
    xml = musicxml_bytes(score)
    counts: list[int] = []
    worker = threading.Thread(target=lambda: counts.append(count_svg_notes(svg_pages(xml)[0])))
    worker.start()
    worker.join()
    assert counts == [8]
