"""Bach's chorales as four parts, and matching them to the JSB frames."""

from __future__ import annotations

import pytest

from cadenza.data.chorales import (
    beat_frames,
    chorale_parts,
    four_parts_throughout,
    frame_shapes,
    same_piece,
)
from cadenza.score import make_notes


def test_music21_chorale_as_four_parts_and_its_beats() -> None:
    pytest.importorskip("music21")
    parts = chorale_parts("bach/bwv269")
    assert parts is not None and len(parts) == 4
    tops = [int(p["pitch"].mean()) for p in parts]
    assert tops == sorted(tops, reverse=True)  # soprano, alto, tenor, bass
    frames = beat_frames(parts)
    assert frames is not None and four_parts_throughout(frames)
    shapes = frame_shapes(frames)
    moved = frame_shapes([tuple(p - 5 for p in f) for f in frames])
    assert same_piece(shapes, moved)  # another key, the same chorale
    other = chorale_parts("bach/bwv347")
    assert other is not None
    other_frames = beat_frames(other, rests=True)
    assert other_frames is not None and not same_piece(shapes, frame_shapes(other_frames))


def test_a_resting_part_leaves_no_frames_unless_rests_are_allowed() -> None:
    upper = make_notes([0, 8], [4, 4], [72, 74])  # rests on the second beat
    lower = make_notes([0, 4, 8], [4, 4, 4], [60, 62, 64])
    assert beat_frames([upper, lower]) is None
    assert beat_frames([upper, lower], rests=True) == [(60, 72), (62,), (64, 74)]
    assert not four_parts_throughout([(60, 64, 67, 72), (60, 67)])
    assert four_parts_throughout([(60, 64, 67, 72), (60, 67, 72)])  # a unison sounds three
