"""The biaxial sampler's onset guides (cadenza.generation.guides) and how the walk uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cadenza.errors import ConfigError
from cadenza.generation.guides import HarmonyGuide, MetreGuide, RhythmGuide, onset_profile
from cadenza.models.notewalk import NoteRule

PROFILE = np.array([4, 1, 2, 1] * 4, dtype=np.float64) / 32.0


def test_onset_profile_counts_articulations_by_bar_position() -> None:
    array = np.zeros((32, 5, 2), dtype=np.uint8)
    array[[0, 2, 16, 18, 21], 0, :] = 1  # onsets at positions 0, 2, 0, 2, 5
    array[3, 1, 0] = 1  # sounding, not struck: no onset
    profile = onset_profile([array])
    assert profile[0] == pytest.approx(0.4) and profile[2] == pytest.approx(0.4)
    assert profile[5] == pytest.approx(0.2) and profile.sum() == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        onset_profile([np.zeros((16, 5, 2))])


def test_the_metre_guide_favours_the_positions_the_walk_neglects() -> None:
    guide = MetreGuide(PROFILE, strength=1.0, batch=2)
    assert guide.weights(0) == pytest.approx([1.0, 1.0])  # nothing generated: no push
    for bar in range(8):  # row 0 strikes only downbeats, row 1 follows the profile
        for position in range(16):
            guide.update(bar * 16 + position,
                         np.array([4.0 if position == 0 else 0.0, 8 * PROFILE[position]]))
    down, eighth = guide.weights(0), guide.weights(2)
    assert down[0] < 1.0 < eighth[0]  # row 0: too many downbeats, too few eighths
    assert down[1] == pytest.approx(1.0, abs=1e-6) and eighth[1] == pytest.approx(1.0, abs=1e-6)
    stronger = MetreGuide(PROFILE, strength=2.0, batch=2)
    stronger.counts = guide.counts.copy()
    assert stronger.weights(2)[0] > eighth[0]
    off = MetreGuide(PROFILE, strength=0.0, batch=2)
    off.counts = guide.counts.copy()
    assert off.weights(2) == pytest.approx([1.0, 1.0])
    with pytest.raises(ConfigError, match="onset profile"):
        MetreGuide(np.ones(16), 1.0, 1)
    with pytest.raises(ConfigError, match="metre_guide"):
        MetreGuide(PROFILE, 9.0, 1)


def test_the_rhythm_guide_echoes_the_bar_before() -> None:
    guide = RhythmGuide(strength=1.0, batch=1)
    for step in range(15):  # less than a bar: nothing to echo yet
        guide.update(step, np.array([3.0 if step % 4 == 0 else 0.0]))
    assert guide.weights(16) == pytest.approx([1.0])
    guide.update(15, np.array([0.0]))
    on_beat, off_beat = guide.weights(16)[0], guide.weights(17)[0]
    assert on_beat > 1.0 > off_beat  # the bar before struck its beats only
    assert on_beat == pytest.approx(4.0 / 1.75)  # (3 + 1) / (mean 0.75 + 1)
    assert RhythmGuide(strength=0.0, batch=1).weights(3) == pytest.approx([1.0])


def test_the_harmony_guide_favours_the_pitch_classes_heard() -> None:
    guide = HarmonyGuide(strength=1.0, batch=1, low=48, num_notes=24)  # C3..B4
    assert (guide.weights() == 1.0).all()  # nothing heard yet
    c_major = np.zeros((1, 24))
    c_major[0, [0, 12, 4, 19]] = 1  # C in two octaves, E, G
    for _ in range(8):
        guide.update(c_major)
    weights = guide.weights()[:, 0]  # (N,)
    assert weights[0] > 1.0 and weights[12] == weights[0]  # C, the most heard, either octave
    assert 0.5 < weights[4] < weights[0] and weights[7] == weights[4]
    assert weights[1] < 0.5 and weights[6] < 0.5  # C sharp, F sharp: unheard
    later = HarmonyGuide(strength=1.0, batch=1, low=48, num_notes=24, half_life_steps=2.0)
    for _ in range(8):
        later.update(c_major)
    f_sharp = np.zeros((1, 24))
    f_sharp[0, 6] = 1
    for _ in range(8):
        later.update(f_sharp)
    assert later.weights()[6, 0] > later.weights()[0, 0]  # a short memory moved on


def test_onset_weights_act_on_starts_only() -> None:
    """A silent note's P(play) and a sounding note's P(articulate) are weighted; a sounding
    note's P(play) (holding it) is not."""
    uniforms = np.full((2, 1, 2), 0.5, dtype=np.float32)
    sounding = np.array([[False, True]])  # (B, N): note 1 sounds
    weights = np.full((2, 1), 0.5, dtype=np.float32)
    rule = NoteRule.bernoulli(uniforms, onset_weights=weights, sounding=sounding)
    probs = np.array([[0.8, 0.8]], dtype=np.float32)  # P(play), P(articulate)
    assert rule.choose(probs, 0).tolist() == [[False, False]]  # 0.8 * 0.5 < 0.5: no start
    assert rule.choose(probs, 1).tolist() == [[True, False]]  # held, not struck again
    plain = NoteRule.bernoulli(uniforms)
    assert plain.choose(probs, 0).tolist() == [[True, True]]


@pytest.mark.parametrize("guides", [dict(metre_guide=2.0), dict(rhythm_guide=1.0),
                                    dict(harmony_guide=1.0), dict(rhythm_copy=1.0)],
                         ids=["metre", "rhythm", "harmony", "rhythm-copy"])
def test_the_guides_change_the_music_and_keep_the_cadence_exact(
        tmp_path: Path, guides: dict[str, float]) -> None:
    import cadenza

    base = dict(bars=4, seed=3, composer="Bach", key="C major", ending="cadence", form="none")
    off = dict(metre_guide=0.0, rhythm_guide=0.0, harmony_guide=0.0, rhythm_copy=0.0)
    plain = cadenza.compose("biaxial-piano", **off, **base)  # type: ignore[arg-type]
    guided = cadenza.compose("biaxial-piano", **{**off, **guides}, **base)  # type: ignore[arg-type]
    assert not np.array_equal(plain.notes, guided.notes)
    end = guided.generated_start_tick + 4 * 16
    last = guided.notes[guided.notes["start"] + guided.notes["duration"] > end - 16]
    assert {int(p) % 12 for p in last["pitch"]} == {0, 4, 7}  # the tonic chord, exactly
    assert (last["start"] == end - 16).all()


def test_the_guides_are_refused_where_they_cannot_act() -> None:
    import cadenza

    with pytest.raises(ConfigError, match=r"metre-guide.*pianoroll"):
        cadenza.compose("pianoroll-piano", bars=1, metre_guide=1.0)
    with pytest.raises(ConfigError, match="harmony_guide must be"):
        cadenza.compose("biaxial-piano", bars=1, harmony_guide=-1.0)
