"""Format details of the step-grid representations: piano roll (and the benchmark format) and
the biaxial note-state matrix with its input features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cadenza.errors import ConfigError, DataError
from cadenza.representations import (
    NUM_FEATURES,
    NoteState,
    NoteStateConfig,
    PianoRoll,
    PianoRollConfig,
    input_features,
    pitch_lists_from_roll,
    roll_from_pitch_lists,
    score_from_pitch_lists,
)
from cadenza.representations.base import Representation
from cadenza.score import Score, make_notes


def score_of(notes: list[tuple[int, int, int]], steps_per_quarter: int = 4) -> Score:
    start, duration, pitch = zip(*notes, strict=True) if notes else ((), (), ())
    return Score(make_notes(list(start), list(duration), list(pitch)), steps_per_quarter)


def triples(score: Score) -> list[tuple[int, int, int]]:
    n = score.notes
    return list(zip(n["start"].tolist(), n["duration"].tolist(), n["pitch"].tolist(), strict=True))


# -- piano roll ------------------------------------------------------------------------------
def test_pianoroll_cells() -> None:
    score = score_of([(0, 2, 21), (1, 3, 60), (3, 1, 108), (0, 1, 20), (2, 9, 109)])
    roll = PianoRoll().encode(score)
    assert roll.shape == (11, 88)  # T = score.end_tick, out-of-range notes included
    expected = np.zeros((11, 88), dtype=np.uint8)
    expected[0:2, 0] = 1
    expected[1:4, 60 - 21] = 1
    expected[3, 87] = 1
    assert np.array_equal(roll, expected)


def test_pianoroll_merges_adjacent_restrikes_only() -> None:
    score = score_of([(0, 2, 60), (2, 2, 60), (5, 1, 60)])
    decoded = PianoRoll().decode(PianoRoll().encode(score))
    assert triples(decoded) == [(0, 4, 60), (5, 1, 60)]


def test_pianoroll_decode_treats_nonzero_as_on_and_custom_range() -> None:
    rep = PianoRoll(PianoRollConfig(steps_per_quarter=2, low=60, high=63))
    probs = np.array([[0.0, 0.7, 0, 0], [0, 0.2, 0, 1], [0, 0, 0, 1]])
    decoded = rep.decode(probs)
    assert decoded.ticks_per_quarter == 2
    assert triples(decoded) == [(0, 2, 61), (1, 2, 63)]


def test_pianoroll_transpose_drops_keys_leaving_the_range() -> None:
    rep = PianoRoll()
    roll = rep.encode(score_of([(0, 2, 21), (1, 1, 107), (1, 1, 60)]))
    up = rep.transpose_array(roll, 2)
    assert triples(rep.decode(up)) == [(0, 2, 23), (1, 1, 62)]
    down = rep.transpose_array(roll, -1)
    assert triples(rep.decode(down)) == [(1, 1, 59), (1, 1, 106)]
    assert not rep.transpose_array(roll, 100).any()
    assert roll.sum() == 4  # the input is untouched


def test_pitch_lists_round_trip() -> None:
    steps = [[60, 64, 67], [], [21], [108, 21], [60]]
    roll = roll_from_pitch_lists(steps)
    assert roll.shape == (5, 88) and roll.dtype == np.uint8
    assert roll.sum() == 7 and roll[3, 0] == roll[3, 87] == 1
    assert pitch_lists_from_roll(roll) == [[60, 64, 67], [], [21], [21, 108], [60]]
    assert pitch_lists_from_roll(np.zeros((0, 88))) == []
    with pytest.raises(DataError, match="pitch 20"):
        roll_from_pitch_lists([[60], [20]])
    with pytest.raises(DataError, match="piano roll"):
        pitch_lists_from_roll(np.zeros(88))


def test_benchmark_pieces_round_trip(jsb_path: Path) -> None:
    splits = json.loads(jsb_path.read_text())
    rep = PianoRoll(PianoRollConfig(steps_per_quarter=1))
    for steps in splits["train"][:5]:
        canonical = [sorted(int(p) for p in step) for step in steps]
        roll = roll_from_pitch_lists(steps)
        assert pitch_lists_from_roll(roll) == canonical
        score = score_from_pitch_lists(steps, steps_per_quarter=1, name="chorale")
        assert score.name == "chorale" and score.ticks_per_quarter == 1
        # Trailing silent steps are the only thing the score cannot hold.
        assert pitch_lists_from_roll(rep.encode(score)) == canonical[: score.end_tick]
        assert not any(canonical[score.end_tick :])


# -- note state ------------------------------------------------------------------------------
def test_notestate_play_and_articulate() -> None:
    rep = NoteState()
    state = rep.encode(score_of([(0, 2, 24), (2, 2, 24), (1, 2, 101), (0, 5, 23)]))
    assert state.shape == (5, 78, 2) and state.dtype == np.uint8
    assert state[:, 0].tolist() == [[1, 1], [1, 0], [1, 1], [1, 0], [0, 0]]
    assert state[:, 77].tolist() == [[0, 0], [1, 1], [1, 0], [0, 0], [0, 0]]
    assert state.sum() == (4 + 2) + (2 + 1)  # nothing else is set
    assert triples(rep.decode(state)) == [(0, 2, 24), (1, 2, 101), (2, 2, 24)]


def test_notestate_decoding_rules() -> None:
    rep = NoteState(NoteStateConfig(low=60, high=61))
    state = np.zeros((7, 2, 2), dtype=np.uint8)
    state[0:3, 0, 0] = 1  # play without any articulate: one note from the 0 -> 1 edge
    state[4, 0, 1] = 1  # articulate without play: ignored
    state[1:6, 1, 0] = 1
    state[[1, 3, 4], 1, 1] = 1  # re-struck at 3 and again at 4
    assert triples(rep.decode(state)) == [(0, 3, 60), (1, 2, 61), (3, 1, 61), (4, 2, 61)]


def test_notestate_transpose() -> None:
    rep = NoteState()
    state = rep.encode(score_of([(0, 2, 24), (1, 1, 100)]))
    assert triples(rep.decode(rep.transpose_array(state, 1))) == [(0, 2, 25), (1, 1, 101)]
    assert triples(rep.decode(rep.transpose_array(state, 2))) == [(0, 2, 26)]
    assert triples(rep.decode(rep.transpose_array(state, -1))) == [(1, 1, 99)]


# -- input features --------------------------------------------------------------------------
def reference_features(state: np.ndarray, step: int, low: int) -> np.ndarray:
    """The 80 inputs of one step (N, 2) -> (N, 80), written as plainly as possible."""
    num_notes = state.shape[0]
    context = [0] * 12
    for n in range(num_notes):
        if state[n, 0]:
            context[(low + n) % 12] += 1
    rows = []
    for n in range(num_notes):
        pitch_class = (low + n) % 12
        one_hot = [1 if c == pitch_class else 0 for c in range(12)]
        vicinity: list[int] = []
        for i in range(-12, 13):
            inside = 0 <= n + i < num_notes
            vicinity += [int(state[n + i, 0]), int(state[n + i, 1])] if inside else [0, 0]
        rotated = context[pitch_class:] + context[:pitch_class]
        beat = [2 * b - 1 for b in (step % 2, step // 2 % 2, step // 4 % 2, step // 8 % 2)]
        rows.append([n, *one_hot, *vicinity, *rotated, *beat, 0])
    return np.array(rows, dtype=np.float32)


def test_features_match_reference_with_batch_dims() -> None:
    rng = np.random.default_rng(7)
    play = rng.random((2, 3, 5, 78)) < 0.2
    state = np.stack([play, play & (rng.random(play.shape) < 0.5)], axis=-1).astype(np.uint8)
    features = input_features(state, first_step=13)
    assert NUM_FEATURES == 80
    assert features.shape == (2, 3, 5, 78, 80) and features.dtype == np.float32
    for index in np.ndindex(2, 3, 5):
        expected = reference_features(state[index], 13 + index[2], low=24)
        assert np.array_equal(features[index], expected), index


def test_features_other_range_uses_its_pitch_classes() -> None:
    rep = NoteState(NoteStateConfig(low=21, high=40))
    state = np.zeros((1, 20, 2), dtype=np.uint8)
    state[0, [0, 3, 15], 0] = 1
    features = rep.input_features(state)
    assert np.array_equal(features[0], reference_features(state[0], 0, low=21))
    assert features[0, 0, 1 + 9] == 1  # note 0 is A (21 % 12 == 9)


def test_features_hand_built_values() -> None:
    state = np.zeros((16, 78, 2), dtype=np.uint8)
    state[:, 0] = [1, 1]  # C1 playing and articulated at every step
    state[:, 12] = [1, 0]  # C2 held
    state[:, 77] = [1, 1]  # F7, top of the range
    features = input_features(state)
    step0 = features[0]
    assert np.array_equal(step0[:, 0], np.arange(78))
    assert np.array_equal(step0[:, 1:13].argmax(axis=1), np.arange(78) % 12)
    vicinity = step0[:, 13:63].reshape(78, 25, 2)
    assert vicinity[0, 12].tolist() == [1, 1]  # itself
    assert vicinity[0, 24].tolist() == [1, 0]  # 12 above: C2
    assert not vicinity[0, :12].any()  # below the range: zeros, no wrap-around to F7
    assert vicinity[12, 0].tolist() == [1, 1]  # 12 below C2 is C1
    assert vicinity[77, 12].tolist() == [1, 1] and not vicinity[77, 13:].any()
    assert not vicinity[30].any()  # nothing within 12 notes of note 30
    context = step0[:, 63:75]
    assert context[0].tolist() == [2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]  # C: 2, F: 1
    assert context[5].tolist() == [1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]  # seen from F
    assert np.array_equal(context[1], np.roll(context[0], -1))
    beats = features[:, 0, 75:79]
    for step in range(16):
        bits = [(step >> k) & 1 for k in range(4)]
        assert beats[step].tolist() == [2 * b - 1 for b in bits]
    assert not features[..., 79].any()


def test_features_first_step_and_single_step() -> None:
    rng = np.random.default_rng(1)
    state = (rng.random((20, 78, 2)) < 0.3).astype(np.uint8)
    whole = input_features(state)
    for first in (0, 5, 16, 19):
        assert np.array_equal(
            input_features(state[first : first + 1], first_step=first), whole[first : first + 1]
        )
    assert np.array_equal(input_features(state[4:], first_step=4), whole[4:])
    assert np.array_equal(input_features(state[None])[0], whole)


def test_features_reject_bad_shapes() -> None:
    with pytest.raises(DataError, match="T, N, 2"):
        input_features(np.zeros((4, 78)))
    with pytest.raises(DataError, match="T, N, 2"):
        input_features(np.zeros((4, 78, 4)))
    # A velocity channel is a target, never an input: the features ignore it.
    state = (np.random.default_rng(0).random((4, 78, 3)) < 0.3).astype(np.uint8) * 5
    np.testing.assert_array_equal(input_features(state), input_features(state[..., :2]))


def test_base_transpose_default_refuses() -> None:
    class Fixed(Representation):
        name = "fixed"
        config_class = PianoRollConfig

        def encode(self, score: Score) -> np.ndarray:
            return np.zeros((0, 1))

        def decode(self, array: np.ndarray) -> Score:
            return score_of([])

        @property
        def feature_shape(self) -> tuple[int, ...]:
            return (1,)

    with pytest.raises(ConfigError, match="fixed does not support transposition"):
        Fixed().transpose_array(np.zeros((1, 1)), 1)
