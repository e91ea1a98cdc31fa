"""TempoMap: the column-wise tempo map against a plain loop over Tempo objects."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.errors import ConfigError
from cadenza.score import Score, Tempo, make_notes
from cadenza.tempomap import DEFAULT_QPM, TempoMap


def seconds_by_loop(tick: int, tpq: int, tempos: list[Tempo]) -> float:
    """The definition: integrate 60 / (qpm * tpq) seconds per tick, 120 qpm before any."""
    seconds, last, qpm = 0.0, 0, DEFAULT_QPM
    for tempo in tempos:
        if tempo.tick >= tick:
            break
        seconds += (tempo.tick - last) * 60.0 / (qpm * tpq)
        last, qpm = tempo.tick, tempo.qpm
    return seconds + (tick - last) * 60.0 / (qpm * tpq)


@pytest.mark.parametrize("first", [0, 37])
def test_seconds_match_the_definition(first: int) -> None:
    rng = np.random.default_rng(first)
    ticks = np.cumsum(rng.integers(1, 200, 50)) + first - 1
    tempos = [Tempo(int(t), float(q)) for t, q in zip(ticks, rng.uniform(40, 200, 50),
                                                        strict=True)]
    tempo_map = TempoMap.from_events(tempos)
    queries = np.r_[0, 1, ticks, ticks + 1, ticks[-1] + 5000]
    expected = [seconds_by_loop(int(q), 480, tempos) for q in queries]
    np.testing.assert_allclose(tempo_map.seconds(queries, 480), expected, rtol=1e-12)
    assert TempoMap().seconds(960, 480) == pytest.approx(1.0)  # two beats at 120 qpm


def test_sequence_behaviour_and_equality() -> None:
    tempo_map = TempoMap([0, 480, 480, 960], [100.0, 90.0, 80.0, 70.0])
    assert list(tempo_map) == [Tempo(0, 100.0), Tempo(480, 80.0), Tempo(960, 70.0)]
    assert tempo_map[1] == Tempo(480, 80.0) and tempo_map[-1].qpm == 70.0
    assert tempo_map[1:] == (Tempo(480, 80.0), Tempo(960, 70.0))
    assert tempo_map == TempoMap.from_events(reversed(list(tempo_map)))
    assert not TempoMap() and len(tempo_map) == 3
    with pytest.raises(ConfigError):
        TempoMap([0, 1], [120.0])
    with pytest.raises(ConfigError):
        TempoMap([0], [0.0])
    with pytest.raises(ValueError):
        tempo_map.ticks[0] = 5  # read-only columns


def test_rescale_keeps_the_last_change_of_each_step_and_sections_cut() -> None:
    tempo_map = TempoMap([0, 485, 490, 1000], [100.0, 120.0, 130.0, 60.0])
    assert list(tempo_map.rescaled(480, 4)) == [Tempo(0, 100.0), Tempo(4, 130.0),
                                                Tempo(8, 60.0)]
    # the section 600..1200 starts at 130 qpm (in force at 600) and changes at 1000
    assert list(tempo_map.section(600, 1200, 100)) == [Tempo(500, 130.0), Tempo(900, 60.0)]
    assert tempo_map.qpm_at(489) == 120.0 and TempoMap([10], [90.0]).qpm_at(5) is None


def test_score_stores_any_tempo_sequence_as_a_map() -> None:
    score = Score(make_notes([0], [4], [60]), 4, tempos=(Tempo(0, 90.0),))
    assert isinstance(score.tempos, TempoMap)
    assert score.tempos == (Tempo(0, 90.0),)
    assert score.seconds() == pytest.approx(4 * 60 / (90 * 4))
