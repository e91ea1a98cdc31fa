"""The realism benchmark's pure parts: excerpt features and the classifier two-sample test."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from cadenza.errors import DataError
from cadenza.metrics import realism, twosample
from cadenza.score import NOTE_DTYPE, SECTION_CUT, Marker, Score, TimeSignature, make_notes

BAR = realism.STEPS_PER_BAR
STEPS = realism.EXCERPT_BARS * BAR
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def random_notes(seed: int, steps: int = STEPS, count: int = 300) -> np.ndarray:
    """Piano-like random notes: pitches 36..96, lengths 1..8 steps, velocities 30..110."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, steps, count)
    durations = np.minimum(rng.integers(1, 9, count), steps - starts)
    notes = make_notes(starts, durations, rng.integers(36, 97, count), rng.integers(30, 111, count))
    keep = np.ones(len(notes), dtype=bool)  # one note per (start, pitch)
    keep[1:] = (notes["start"][1:] != notes["start"][:-1]) | (notes["pitch"][1:]
                                                              != notes["pitch"][:-1])
    return notes[keep]


def shifted(notes: np.ndarray, semitones: int) -> np.ndarray:
    out = notes.copy()
    out["pitch"] += semitones
    return out


# -- features -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("semitones", [5, -3, 7])
def test_features_are_transposition_invariant(seed: int, semitones: int) -> None:
    notes = random_notes(seed)
    before = realism.features(notes, STEPS)
    after = realism.features(shifted(notes, semitones), STEPS)
    assert list(before) == list(after) == realism.feature_names()
    for name, value in before.items():
        if name in realism.NOT_TRANSPOSITION_INVARIANT:
            assert after[name] == pytest.approx(value + semitones), name
        else:
            assert after[name] == pytest.approx(value, abs=1e-12), name


def test_pitch_classes_are_counted_from_the_tonic() -> None:
    # A C major scale and the same scale in F: both put the tonic's share first.
    scale = [0, 2, 4, 5, 7, 9, 11, 12]
    for tonic in (60, 65):
        notes = make_notes([4 * i for i in range(8)], [4] * 8, [tonic + s for s in scale])
        values = realism.features(notes, STEPS)
        assert values["harmony.pc_00"] == pytest.approx(2 / 8)  # C (or F) twice
        assert values["harmony.pc_01"] == 0.0 and values["harmony.minor"] == 0.0
        assert values["harmony.in_key_share"] == 1.0


def test_eighth_offbeats_count_positions_2_6_10_14() -> None:
    # Onset steps at bar positions 0, 2 (a chord: one onset step), 6 | 3 | 10, 14.
    starts = [0, 2, 2, 6, BAR + 3, 2 * BAR + 10, 2 * BAR + 14]
    notes = make_notes(starts, [1] * len(starts), [60, 64, 67, 62, 65, 69, 72])
    values = realism.features(notes, STEPS)
    shares = np.array([values[f"metre.position_{k:02d}"] for k in range(BAR)])
    assert shares[[0, 2, 3, 6, 10, 14]] == pytest.approx([1 / 6] * 6)
    assert shares.sum() == pytest.approx(1.0)
    eighth, sixteenth = realism.offbeat_shares(shares)
    assert eighth == pytest.approx((4 / 6) / 4)  # all four eighth off-beats hold one onset
    assert sixteenth == pytest.approx((1 / 6) / 8)  # of the odd positions only 3 does
    assert values["metre.eighth_offbeat_ratio"] == pytest.approx(eighth / (eighth + sixteenth))
    assert values["harmony.chord_size_mean"] == pytest.approx(7 / 6)


def test_repetition_and_bar_cosines_on_a_repeated_bar() -> None:
    bar = [(0, 60), (4, 64), (8, 67), (12, 72)]
    starts = [b * BAR + t for b in range(4) for t, _ in bar]
    pitches = [p + (2 if b == 3 else 0) for b in range(4) for _, p in bar]  # bar 4 up a tone
    values = realism.features(make_notes(starts, [4] * len(starts), pitches), 4 * BAR)
    assert values["repetition.literal_bar_repeats"] == pytest.approx(2 / 4)
    assert values["repetition.transposed_bar_repeats"] == pytest.approx(3 / 4)
    assert values["repetition.rhythm_bar_repeats"] == pytest.approx(3 / 4)
    assert values["harmony.bar_cosine_lag1"] < 1.0  # bar 3 to bar 4 changes key
    assert values["harmony.bar_cosine_lag4"] == 0.0  # no pair four bars apart


def test_silence_has_features_and_bad_windows_are_refused() -> None:
    empty = realism.features(np.empty(0, dtype=NOTE_DTYPE), STEPS)
    assert empty["density.silent_share"] == 1.0 and empty["density.notes_per_beat"] == 0.0
    assert all(np.isfinite(list(empty.values())))
    with pytest.raises(DataError, match="whole number"):
        realism.features(random_notes(0, 24), 24)
    with pytest.raises(DataError, match="outside"):
        realism.features(random_notes(0), BAR)


def test_windows_start_on_bar_lines_and_skip_silence_and_cuts() -> None:
    # 40 bars of 4/4: bars 0-19 play, 20-21 are silent, 22-39 play; a section cut at bar 30.
    playing = [b for b in range(40) if b not in (20, 21)]
    starts = [b * BAR + t for b in playing for t in (0, 4, 8, 12)]
    score = Score(make_notes(starts, [4] * len(starts), 60), 4,
                  time_signatures=(TimeSignature(0, 4, 4),),
                  markers=(Marker(30 * BAR, SECTION_CUT),))
    # 16 bars: bar 0 fits; every later start up to bar 29 crosses the cut, and from bar 30
    # on a window runs past the end.
    assert realism.window_starts(score, 16, 0.5) == [0]
    # 4 bars: bars 20-23 sound half the time, 21-24 three quarters (< 0.8), 29-32 cross
    # the cut.
    assert realism.window_starts(score, 4, 0.8) == [0, 4 * BAR, 8 * BAR, 12 * BAR, 16 * BAR,
                                                    22 * BAR, 26 * BAR, 30 * BAR, 34 * BAR]
    notes = realism.excerpt_notes(score, 16 * BAR, 4 * BAR)
    assert notes["start"].min() == 0 and notes["start"].max() < 4 * BAR
    with pytest.raises(DataError, match="quantised"):
        realism.excerpt_notes(Score(score.notes, 8), 0, BAR)


def test_constant_features_are_dropped() -> None:
    names = ["metre.a", "harmony.b", "dynamics.c", "dynamics.d"]
    x = np.array([[1.0, 2.0, 3.0, 0.0], [1.0, 5.0, 4.0, 0.0], [1.0, 2.0, 9.0, 0.0]])
    masks = realism.feature_masks(x, names)
    assert masks["all"].tolist() == [False, True, True, False]
    assert masks["notes"].tolist() == [False, True, False, False]
    assert twosample.constant_columns(np.array([[0.3, 1.0], [0.3, 1.0]])).tolist() == [True,
                                                                                        True]


# -- the classifier two-sample test ---------------------------------------------------------------
def samples(shift: float, seed: int, n: int = 40, features: int = 30
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` rows of each label, standard normal, the second moved by ``shift`` in feature 0;
    groups of two rows."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * n, features))
    x[n:, 0] += shift
    y = np.r_[np.zeros(n), np.ones(n)]
    return x, y, np.arange(2 * n) // 2


def test_same_distribution_is_told_apart_at_chance() -> None:
    # Many features and few rows: a classifier scored on what it trained on would do far
    # better than chance here.
    scores = [twosample.cv_accuracy(*samples(0.0, seed), repeats=3, seed=seed).accuracy
              for seed in range(4)]
    assert 0.35 < float(np.mean(scores)) < 0.62


def test_different_distributions_are_told_apart() -> None:
    result = twosample.cv_accuracy(*samples(4.0, 0, features=10), repeats=3)
    assert result.accuracy > 0.95  # 4 standard deviations apart: at best 0.977 (2 sd a side)
    assert result.samples == 80 and result.features == 10 and len(result.repeats) == 3


def test_logistic_regression_learns_the_direction() -> None:
    x, y, _ = samples(3.0, 1)
    weights, _ = twosample.fit_logistic(x, y, l2=1.0)
    assert int(np.argmax(np.abs(weights))) == 0 and weights[0] > 0
    probabilities = twosample.predict_proba(x, weights, _)
    assert ((probabilities >= 0.5) == (y == 1)).mean() > 0.9


def test_grouped_folds_never_split_a_group() -> None:
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 5, 30)  # 30 groups of 1..4 samples
    groups = np.repeat(np.arange(30), sizes)
    labels = np.repeat(np.arange(30) % 2, sizes)
    fold_of = twosample.grouped_folds(labels, groups, 5, rng)
    for group in range(30):
        assert len(set(fold_of[groups == group].tolist())) == 1, group
    assert set(fold_of.tolist()) == set(range(5))
    for fold in range(5):  # stratified: each label spread over every fold
        assert set(labels[fold_of == fold].tolist()) == {0, 1}
    with pytest.raises(ValueError, match="both labels"):
        twosample.grouped_folds(np.array([0, 1] * 6), np.arange(12) // 2, 3, rng)


# -- the script ----------------------------------------------------------------------------------
def test_benchmark_warns_when_the_test_split_was_trained_on() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import realism as script  # the benchmark script, beside gates.py
    finally:
        sys.path.remove(str(BENCHMARKS))
    old = {"data": {"corpus": {"split": {"train": 0.8, "valid": 0.1, "generation": 0.1}}}}
    zero = {"data": {"corpus": {"split": {"train": 0.8, "valid": 0.1, "generation": 0.1,
                                          "test": 0.0}}}}
    new = {"data": {"corpus": {"split": {"train": 0.7, "valid": 0.1, "generation": 0.1,
                                         "test": 0.1}}}}
    assert "no test part" in (script.split_warning("m", old) or "")
    assert "no test part" in (script.split_warning("m", zero) or "")
    assert script.split_warning("m", new) is None
    with pytest.raises(SystemExit):
        script.parse_args(["--model", "x", "--blocks", "90", "--pieces", "32"])  # tuned seeds


def test_a_generated_part_is_judged_from_its_first_bar_line() -> None:
    """A token model's generated part may start inside a bar: the excerpt starts at the next
    bar line, so that its positions are bar positions; one on a bar line stays."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import realism as script
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert [script.bar_line_at_or_after(s) for s in (0, 1, 15, 16, 20, 32)] == [
        0, 16, 16, 16, 32, 32]
