"""Voice-leading metrics on crafted two- and four-part examples."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.errors import DataError
from cadenza.metrics.voiceleading import sonorities, voice_leading
from cadenza.score import make_notes


def _part(*notes: tuple[int, int, int]) -> np.ndarray:
    """(start, duration, pitch) notes of one part."""
    starts, durations, pitches = zip(*notes, strict=True) if notes else ((), (), ())
    return make_notes(list(starts), list(durations), list(pitches))


def _line(pitches: list[int], step: int = 4) -> np.ndarray:
    return _part(*((i * step, step, p) for i, p in enumerate(pitches)))


@pytest.mark.parametrize(("upper", "lower", "fifths", "octaves"), [
    ([72, 74], [65, 67], 1, 0),  # a fifth, then a fifth, both up
    ([79, 81], [60, 62], 1, 0),  # a twelfth, then a twelfth (compound fifths)
    ([72, 74], [60, 62], 0, 1),  # octaves, both up
    ([60, 62], [60, 62], 0, 1),  # unisons
    ([72, 74], [65, 63], 0, 0),  # a fifth, then a ninth: contrary motion
    ([72, 79], [65, 60], 0, 0),  # a fifth to a twelfth by contrary motion: not parallel
    ([72, 74], [60, 50], 0, 0),  # an octave to two octaves by contrary motion
    ([72, 79], [65, 72], 1, 0),  # by leaps, still parallel
    ([72, 72], [65, 65], 0, 0),  # both repeat: no motion
    ([72, 74], [65, 65], 0, 0),  # oblique: one part stays
    ([72, 74], [65, 68], 0, 0),  # a fifth to a sixth
])
def test_parallels(upper: list[int], lower: list[int], fifths: int, octaves: int) -> None:
    result = voice_leading([_line(upper), _line(lower)], ticks_per_bar=16)
    assert (result.parallel_fifths, result.parallel_octaves) == (fifths, octaves)


def test_a_rest_between_breaks_the_parallel() -> None:
    upper = _part((0, 4, 72), (8, 4, 74))
    lower = _part((0, 4, 65), (4, 4, 66), (8, 4, 67))  # the upper part rests at tick 4
    assert voice_leading([upper, lower], 16).parallel_fifths == 0


def test_sonorities_read_held_notes_at_other_parts_onsets() -> None:
    upper = _part((0, 8, 72))
    lower = _part((0, 4, 60), (4, 4, 62), (8, 4, 64))
    table = sonorities([upper, lower])
    assert table.tolist() == [[72, 60], [72, 62], [-1, 64]]


def test_crossings_ranges_and_bars() -> None:
    soprano = _line([72, 64, 72, 72, 72, 72, 72, 72])  # two bars of quarters
    alto = _line([67, 67, 67, 67, 67, 67, 67, 67])  # above the soprano at the second beat
    tenor = _line([60] * 8)
    bass = _line([48, 48, 48, 48, 48, 48, 48, 30])  # one note below E2
    ranges = [(60, 79), (55, 74), (48, 67), (40, 60)]
    result = voice_leading([soprano, alto, tenor, bass], ticks_per_bar=16, ranges=ranges)
    assert result.crossings == 1 and result.range_violations == 1
    assert result.bars == 2.0
    assert result.per_bar()["crossings"] == 0.5
    assert result.notes == 32


def test_four_parts_count_every_pair() -> None:
    # soprano and tenor in octaves, alto and bass in octaves: both pairs move up together
    parts = [_line([72, 74]), _line([67, 69]), _line([60, 62]), _line([55, 57])]
    result = voice_leading(parts, 16)
    # S-T and A-B octaves; S-A... 5 vs 5: S-A fourths (no), S-B 17/17 (no), A-T fifths (7/7)
    assert result.parallel_octaves == 2 and result.parallel_fifths == 1


def test_degenerate_input_is_refused() -> None:
    with pytest.raises(DataError, match="two parts"):
        voice_leading([_line([60])], 16)
    with pytest.raises(DataError, match="no notes"):
        voice_leading([_part(), _part()], 16)
    with pytest.raises(DataError, match="ranges"):
        voice_leading([_line([60]), _line([50])], 16, ranges=[(0, 127)])


def test_the_benchmark_voices_jsb_frames_and_prints_a_row() -> None:
    """``benchmarks/voice_leading.py``'s JSB row on two tiny pieces of quarter-note frames:
    parts assigned by cadenza's voicing, none out of range, a table row per set."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import voice_leading as bench

    pieces = [[[48, 60, 64, 72], [50, 62, 65, 74], [52, 64, 67, 76]],  # all four in parallel
              [[48, 55, 64, 72], [53, 57, 65, 72], [55, 59, 62, 74]]]
    results, counts = bench.cadenza_parts(pieces)
    assert len(results) == 2 and counts["dropped"] == 0
    assert all(r.range_violations == 0 for r in results)
    assert results[0].parallel_octaves > 0  # bass, tenor and soprano in octaves, moving up
    line = bench.row("test", results, "note")
    assert line.startswith("| test | 2 | ") and line.endswith("| note |")
    assert line.count("|") == 10  # nine columns
