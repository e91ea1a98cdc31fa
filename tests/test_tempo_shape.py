"""A humanised tempo and the closing ritardando, as per-beat tempo changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cadenza.composing import ComposeRequest, compose
from cadenza.errors import ConfigError
from cadenza.score import Score, make_notes
from cadenza.tempo_shape import (
    HUMANISE_BROADEN,
    RITARDANDO_TO,
    beat_factors,
    shaped_tempo,
)


def _score(bars: int, spq: int = 4) -> Score:
    starts = np.arange(bars * 4) * spq
    notes = make_notes(starts, np.full(len(starts), spq), np.full(len(starts), 60))
    return Score(notes=notes, ticks_per_quarter=spq)


def test_nothing_asked_is_a_steady_tempo() -> None:
    assert np.array_equal(beat_factors(32), np.ones(32))
    score = _score(4)
    assert shaped_tempo(score, 100.0) is score


def test_ritardando_reaches_70_percent_on_the_last_beat() -> None:
    factors = beat_factors(32, ritardando=True)
    assert np.array_equal(factors[:24], np.ones(24))
    assert np.allclose(factors[24:], 1 - (1 - RITARDANDO_TO) * np.arange(1, 9) / 8)


def test_humanised_phrases_broaden_at_their_ends() -> None:
    middles = []
    for seed in range(10):
        factors = beat_factors(64, humanise=1.0, phrase_bars=4, seed=seed).reshape(4, 16)
        assert (factors[:, -1] < factors[:, 8] - HUMANISE_BROADEN / 2).all(), seed
        middles.extend(factors[:, 8])
    assert np.mean(middles) > 1.03  # the middle of the arch is faster (wander aside)


def test_humanise_is_seeded_and_scales_with_its_amount() -> None:
    first = beat_factors(48, humanise=1.0, seed=3)
    assert np.array_equal(first, beat_factors(48, humanise=1.0, seed=3))
    assert not np.array_equal(first, beat_factors(48, humanise=1.0, seed=4))
    half = beat_factors(48, humanise=0.5, seed=3)
    assert np.allclose(half - 1.0, (first - 1.0) / 2)


@pytest.mark.parametrize("amount", [-0.1, 1.5])
def test_humanise_outside_its_range_is_refused(amount: float) -> None:
    with pytest.raises(ConfigError, match=r"humanise must be in 0\.\.1"):
        beat_factors(8, humanise=amount)
    with pytest.raises(ConfigError, match=r"humanise must be in 0\.\.1"):
        ComposeRequest(humanise=amount)


def test_shaped_tempo_changes_the_tempo_map_only() -> None:
    score = _score(8)
    shaped = shaped_tempo(score, 90.0, humanise=1.0, seed=1)
    assert np.array_equal(shaped.notes, score.notes)
    ticks = [tempo.tick for tempo in shaped.tempos]
    assert ticks == sorted(ticks) and ticks[0] == 0 and len(ticks) == 32
    factors = beat_factors(32, humanise=1.0, seed=1)
    assert [tempo.qpm for tempo in shaped.tempos] == pytest.approx(list(90.0 * factors))


def test_composing_with_humanise_keeps_the_notes_of_the_same_seed(tmp_path: Path) -> None:
    common = dict(checkpoint="biaxial-piano", bars=4, seed=5, composer="Bach", bpm=100,
                  write_files=False, threads=1)
    steady = compose(ComposeRequest(**common)).pieces[0].score  # type: ignore[arg-type]
    played = compose(ComposeRequest(humanise=0.8, **common)).pieces[0].score  # type: ignore[arg-type]
    assert np.array_equal(steady.notes, played.notes)
    assert len(steady.tempos) == 1 and len(played.tempos) > 8
    assert min(t.qpm for t in played.tempos) < 100 < max(t.qpm for t in played.tempos)
