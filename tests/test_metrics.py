"""Musical metrics on hand-built pieces whose values are known, and on real files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import real_piece_params
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza import metrics as m
from cadenza.errors import ConfigError, DataError
from cadenza.metrics.timeline import bars, sounding_roll
from cadenza.midi import ReadOptions, load_piece
from cadenza.score import NOTE_DTYPE, Score, Tempo, TimeSignature, make_notes

BAR = 16  # steps per 4/4 bar at 4 steps per quarter


def piece(
    notes: list[tuple[int, int, int]],
    tpq: int = 4,
    signatures: tuple[TimeSignature, ...] = (),
    qpm: float = 120.0,
) -> Score:
    """A score from ``(start, duration, pitch)`` triples."""
    if not notes:
        return Score(np.empty(0, dtype=NOTE_DTYPE), tpq, name="empty")
    starts, durations, pitches = zip(*notes, strict=True)
    return Score(make_notes(list(starts), list(durations), list(pitches)), tpq,
                 tempos=(Tempo(0, qpm),), time_signatures=signatures, name="built")


def melody(pitches: list[int], step: int = 4) -> Score:
    """One note per quarter (``step`` steps), each lasting the full step."""
    return piece([(i * step, step, p) for i, p in enumerate(pitches)])


def bar_of(onsets: list[int], offset: int = 0, pitch: int = 60) -> list[tuple[int, int, int]]:
    return [(offset + t, 1, pitch) for t in onsets]


C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]
FOUR_ON_THE_FLOOR = [0, 4, 8, 12]


# -- pitch -------------------------------------------------------------------------------------
def test_c_major_scale_pitch_metrics() -> None:
    scale = melody(C_MAJOR)
    assert m.scale_consistency(scale) == 1.0
    assert m.best_key(scale) == ("C major", 1.0)
    assert m.pitches_used(scale) == 8.0
    assert m.pitch_range(scale) == 12.0
    # C twice, six other classes once: -(1/4 log2 1/4 + 6/8 log2 1/8) = 0.5 + 2.25
    assert m.pitch_class_entropy(scale) == pytest.approx(2.75)


def test_pitch_class_entropy_extremes() -> None:
    assert m.pitch_class_entropy(melody(list(range(60, 72)))) == pytest.approx(math.log2(12))
    assert m.pitch_class_entropy(melody([60, 72, 48, 60])) == 0.0  # one pitch class


def test_scale_consistency_of_the_chromatic_scale_and_a_minor_key() -> None:
    assert m.scale_consistency(melody(list(range(60, 72)))) == pytest.approx(7 / 12)
    # A harmonic-minor run: G# is outside every natural-minor/major scale holding A C E F.
    run = melody([69, 71, 72, 74, 76, 77, 80, 81])
    assert m.scale_consistency(run) == pytest.approx(7 / 8)
    assert m.best_key(melody([57, 60, 64, 65]))[0] == "C major"  # ties go to major, from C


# -- texture -----------------------------------------------------------------------------------
def test_a_held_triad() -> None:
    chord = piece([(0, BAR, 60), (0, BAR, 64), (0, BAR, 67)])
    assert m.polyphony(chord) == 3.0
    assert m.polyphony_rate(chord) == 1.0
    assert m.dissonance_rate(chord) == 0.0
    assert m.empty_beat_rate(chord) == 0.0
    assert m.longest_silence(chord) == 0.0


def test_polyphony_weighs_steps_and_ignores_silence() -> None:
    # One note for 4 steps, then a triad for 4 steps, then 8 silent steps and a last note.
    score = piece([(0, 4, 48), (4, 4, 60), (4, 4, 64), (4, 4, 67), (16, 4, 50)])
    assert m.polyphony(score) == pytest.approx((4 * 1 + 4 * 3 + 4 * 1) / 12)
    assert m.polyphony_rate(score) == pytest.approx(4 / 12)
    assert m.polyphony(melody(C_MAJOR)) == 1.0
    assert m.polyphony_rate(melody(C_MAJOR)) == 0.0


def test_sounding_roll_counts_overlapping_notes_of_one_pitch_once() -> None:
    notes = np.concatenate([make_notes([0], [8], [60]), make_notes([2], [2], [60])])
    score = Score(notes, 4)
    roll = sounding_roll(score)
    assert roll.shape == (8, 128) and roll[:, 60].all() and roll.sum() == 8
    assert m.polyphony(score) == 1.0


@pytest.mark.parametrize(
    ("pitches", "expected"),
    [
        ([60, 61], 1.0),  # minor second
        ([60, 62], 1.0),  # major second
        ([60, 66], 1.0),  # tritone
        ([60, 71], 1.0),  # major seventh
        ([59, 72], 1.0),  # minor ninth: B against C an octave up
        ([60, 70], 1.0),  # minor seventh
        ([60, 67], 0.0),  # fifth
        ([60, 65], 0.0),  # fourth
        ([60, 72], 0.0),  # octave
        ([60, 64, 67, 71], 1 / 6),  # C major seventh: only C-B of six pairs
    ],
)
def test_dissonance_of_intervals(pitches: list[int], expected: float) -> None:
    assert m.dissonance_rate(piece([(0, 4, p) for p in pitches])) == pytest.approx(expected)


def test_dissonance_pools_pairs_over_time() -> None:
    # C-E for 4 steps (consonant), then C#-D for 12 steps (dissonant): 12 of 16 pairs.
    score = piece([(0, 4, 60), (0, 4, 64), (4, 12, 61), (4, 12, 62)])
    assert m.dissonance_rate(score) == pytest.approx(12 / 16)
    assert m.dissonance_rate(melody(C_MAJOR)) == 0.0  # no pairs at all


# -- rhythm ------------------------------------------------------------------------------------
def test_empty_bar_and_longest_silence() -> None:
    notes = bar_of(FOUR_ON_THE_FLOOR) + bar_of(FOUR_ON_THE_FLOOR, offset=2 * BAR)
    score = piece([(t, 4, p) for t, _, p in notes])  # quarter notes, bar 2 silent
    assert m.empty_beat_rate(score) == pytest.approx(4 / 12)
    assert m.longest_silence(score) == 4.0
    silent_bar = piece([(0, BAR, 60), (2 * BAR, BAR, 60)])
    assert m.empty_beat_rate(silent_bar) == pytest.approx(4 / 12)


def test_silence_before_the_first_note_counts() -> None:
    score = piece([(8, 2, 60)])  # two silent beats, then an eighth note
    assert m.empty_beat_rate(score) == pytest.approx(2 / 3)
    assert m.longest_silence(score) == 2.0
    assert m.longest_silence(piece([(0, 2, 60), (4, 2, 60)])) == 0.5  # an eighth rest


def test_qualified_note_rate() -> None:
    fine = piece([(0, 1, 60), (1, 2, 62), (3, 2, 64), (5, 4, 65)], tpq=8)  # 32nd grid
    assert m.qualified_note_rate(fine) == pytest.approx(0.75)
    assert m.qualified_note_rate(fine, min_quarters=0.5) == pytest.approx(0.25)
    assert m.qualified_note_rate(piece([(0, 1, 60), (1, 1, 62)])) == 1.0  # 16th grid


def test_groove_consistency() -> None:
    floor = [n for b in range(4) for n in bar_of(FOUR_ON_THE_FLOOR, offset=b * BAR, pitch=36)]
    assert m.groove_consistency(piece(floor)) == 1.0
    eighths = list(range(0, BAR, 2))
    alternating = [n for b in range(4)
                   for n in bar_of(FOUR_ON_THE_FLOOR if b % 2 == 0 else eighths, b * BAR)]
    assert m.groove_consistency(piece(alternating)) == pytest.approx(1 - 4 / 16)
    assert m.groove_consistency(piece(bar_of([0, 3, 5]))) == 1.0  # one bar


def test_groove_follows_the_time_signature() -> None:
    downbeats = [(t, 1, 60) for t in range(0, 12 * 8, 12)]  # a note on each 3/4 bar line
    waltz = piece(downbeats, signatures=(TimeSignature(0, 3, 4),))
    assert m.groove_consistency(waltz) == 1.0
    assert m.groove_consistency(piece(downbeats)) < 0.95  # read as 4/4, the pattern drifts
    assert len(bars(waltz)) == 8 and m.notes_per_bar(waltz) == 1.0


def test_note_density() -> None:
    scale = melody(C_MAJOR)  # 8 quarter notes: two bars, 4 seconds at 120 qpm
    assert m.notes_per_bar(scale) == 4.0
    assert m.notes_per_second(scale) == pytest.approx(2.0)
    slow = piece([(i * 4, 4, p) for i, p in enumerate(C_MAJOR)], qpm=60.0)
    assert m.notes_per_second(slow) == pytest.approx(1.0)
    assert m.notes_per_bar(piece([(0, 1, 60), (20, 1, 62)])) == 1.0  # ends inside bar 2


def test_longest_repeated_note_run() -> None:
    assert m.longest_repeated_note_run(melody([60, 60, 60, 62, 60, 60])) == 3.0
    assert m.longest_repeated_note_run(melody(C_MAJOR)) == 1.0
    chord_breaks = piece([(0, 1, 60), (1, 1, 60), (2, 1, 60), (2, 1, 64), (3, 1, 60)])
    assert m.longest_repeated_note_run(chord_breaks) == 2.0
    assert m.longest_repeated_note_run(piece([(0, 4, 60), (0, 4, 64)])) == 0.0


# -- structure ---------------------------------------------------------------------------------
RIFF = [(0, 2, 60), (4, 2, 64), (8, 4, 67), (12, 2, 72)]


def riff_at(offset: int, shift: int = 0) -> list[tuple[int, int, int]]:
    return [(offset + t, d, p + shift) for t, d, p in RIFF]


def test_repeated_bar_rate() -> None:
    repeated = piece([n for b in range(4) for n in riff_at(b * BAR)])
    assert m.repeated_bar_rate(repeated) == pytest.approx(0.75)
    transposed = piece([n for b in range(4) for n in riff_at(b * BAR, shift=b)])
    assert m.repeated_bar_rate(transposed) == 0.0
    with_rest = piece(riff_at(0) + riff_at(2 * BAR))  # A, silence, A: the silent bar is left out
    assert m.repeated_bar_rate(with_rest) == pytest.approx(0.5)
    longer = piece(riff_at(0) + [(BAR + t, d + 1, p) for t, d, p in RIFF])  # durations ignored
    assert m.repeated_bar_rate(longer) == pytest.approx(0.5)


def test_note_stream_bytes_and_compression() -> None:
    assert m.note_stream_bytes(piece([(0, 4, 60), (4, 300, 62)])) == bytes([0, 60, 4, 4, 62, 255])
    repeated = piece([n for b in range(32) for n in riff_at(b * BAR)])
    rng = np.random.default_rng(0)
    random_notes = [(int(t), int(d), int(p)) for t, d, p in zip(
        np.sort(rng.integers(0, 32 * BAR, 128)), rng.integers(1, 9, 128),
        rng.integers(40, 90, 128), strict=True)]
    assert m.compression_ratio(repeated) > 5.0
    assert m.compression_ratio(piece(random_notes)) < 1.6


# -- registry and edge cases -------------------------------------------------------------------
def test_compute_all_lists_every_metric_in_order(tiny_score: Score) -> None:
    values = m.compute_all(tiny_score)
    assert tuple(values) == m.metric_names() == tuple(m.METRICS)
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())
    assert m.compute_all(tiny_score, ["polyphony"]) == {"polyphony": m.polyphony(tiny_score)}
    with pytest.raises(ConfigError, match="unknown metric 'tempo'"):
        m.compute_all(tiny_score, ["tempo"])


@pytest.mark.parametrize("name", list(m.METRICS))
def test_every_metric_refuses_an_empty_score(name: str) -> None:
    with pytest.raises(DataError, match=f"'empty' has no notes: {name} is undefined"):
        m.METRICS[name](piece([]))


def test_a_score_of_zero_length_notes_is_refused() -> None:
    with pytest.raises(DataError, match="lasts 0 ticks"):
        m.compute_all(piece([(0, 0, 60)]))


def test_bars_follow_time_signature_changes() -> None:
    score = piece([(0, 1, 60), (40, 1, 60)],
                  signatures=(TimeSignature(0, 4, 4), TimeSignature(24, 3, 4)))
    # 4/4 bar at 0, a bar cut short at 16..24 by the change, then 3/4 bars of 12 steps.
    assert bars(score).tolist() == [[0, 16], [16, 8], [24, 12], [36, 12]]
    late = piece([(0, 1, 60)], signatures=(TimeSignature(0, 4, 4), TimeSignature(64, 3, 4)))
    assert bars(late).tolist() == [[0, 16]]


notes_strategy = st.lists(
    st.tuples(st.integers(0, 63), st.integers(1, 12), st.integers(30, 90)),
    min_size=1, max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(notes=notes_strategy, shift=st.integers(-12, 12))
def test_metrics_ignore_transposition_and_stay_in_range(
    notes: list[tuple[int, int, int]], shift: int
) -> None:
    score = piece(notes)
    values = m.compute_all(score)
    moved = m.compute_all(score.transpose(shift))
    for name in m.metric_names():
        if name != "compression_ratio":  # DEFLATE's code tables depend on the byte values
            assert moved[name] == pytest.approx(values[name]), name
    for name in ("scale_consistency", "polyphony_rate", "empty_beat_rate", "dissonance_rate",
                 "qualified_note_rate", "groove_consistency", "repeated_bar_rate"):
        assert 0.0 <= values[name] <= 1.0, name
    assert 0.0 <= values["pitch_class_entropy"] <= math.log2(12) + 1e-9
    assert values["polyphony"] >= 1.0 and values["compression_ratio"] > 0.0


@pytest.mark.parametrize("path", real_piece_params())
def test_metrics_of_real_pieces_are_plausible(path: Path) -> None:
    score, _ = load_piece(path, ReadOptions(time_signatures=None))
    values = m.compute_all(score)
    assert all(math.isfinite(v) for v in values.values())
    assert values["scale_consistency"] > 0.6 and values["pitch_range"] > 24
    assert 1.0 <= values["polyphony"] < 10 and values["notes_per_second"] > 1.0
