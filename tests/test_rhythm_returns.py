"""Rhythm returns: a form's returning phrase keeps its first statement's rhythm and bass, with
upper notes the model chooses anew."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cadenza.composing import ComposeRequest, compose
from cadenza.errors import ConfigError
from cadenza.generation.plan import FormPlan, rhythm_prior


def _step(play: list[int], struck: list[int], notes: int = 6) -> np.ndarray:
    """One (1, N, 2) note-state step: ``play`` sounds, ``struck`` is articulated."""
    step = np.zeros((1, notes, 2), dtype=np.float32)
    step[0, play, 0] = 1.0
    step[0, struck, 1] = 1.0
    return step


def test_the_rhythm_prior_starts_nothing_where_the_source_started_nothing() -> None:
    """Source step 1 only holds note 2 (struck at step 0): now nothing may start, note 4
    (sounding) may go on unstruck, silent notes stay silent."""
    generated = [_step([2], [2]), _step([2], []), _step([4], [4])]
    prior = rhythm_prior(generated, source=1, index=3).prior
    assert prior is not None
    assert np.all(prior[0, :, 1] == 0.0)  # nothing struck
    assert np.isnan(prior[0, 4, 0])  # the sounding note may go on
    assert np.all(prior[0, [0, 1, 2, 3, 5], 0] == 0.0)


def test_the_rhythm_prior_strikes_the_sources_lowest_started_note() -> None:
    """Source step 2 strikes notes 2 and 4 (note 0 held from before): note 2 starts again,
    none below it starts (note 0, sounding, may go on), the notes above are the model's."""
    generated = [_step([0], [0]), _step([0], []), _step([0, 2, 4], [2, 4]), _step([0], [])]
    prior = rhythm_prior(generated, source=2, index=4).prior
    assert prior is not None
    assert prior[0, 2].tolist() == [1.0, 1.0]
    assert np.isnan(prior[0, 0, 0]) and prior[0, 0, 1] == 0.0  # held bass: on, unstruck
    assert prior[0, 1].tolist() == [0.0, 0.0]
    assert np.isnan(prior[0, 3:]).all()


def test_which_returns_keep_their_rhythm_only_is_drawn_from_the_seed() -> None:
    never = FormPlan("AABA", 16, rhythm_returns=0.0, seed=1)
    always = FormPlan("AABA", 16, rhythm_returns=1.0, seed=1)
    assert not any(never.rhythm_only(p) for p in range(8))
    assert all(always.rhythm_only(p) for p in range(8))
    draws = [[FormPlan("AABA", 16, rhythm_returns=0.5, seed=s).rhythm_only(p) for p in range(8)]
             for s in (3, 3, 4)]
    assert draws[0] == draws[1] and 0 < sum(draws[0] + draws[2]) < 16
    with pytest.raises(ConfigError, match="rhythm_returns"):
        FormPlan("AABA", 16, rhythm_returns=1.5)
    with pytest.raises(ConfigError, match="rhythm_returns"):
        ComposeRequest(rhythm_returns=-0.1)


def _onsets(notes: np.ndarray, lo: int, steps: int) -> list[list[int]]:
    """The pitches struck at each step of ``[lo, lo + steps)``."""
    return [sorted(int(p) for p in notes["pitch"][notes["start"] == t])
            for t in range(lo, lo + steps)]


def test_a_rhythm_return_keeps_the_onsets_and_bass_not_the_notes(tmp_path: Path) -> None:
    """AABA over 1-bar phrases with every return rhythm-only: phrases 2 and 4 strike at the
    steps of phrase 1, each step's lowest struck note is phrase 1's, the notes differ."""
    request = ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path, bars=4, seed=11,
                             composer="Mozart", form="AABA", phrase_bars=1, rhythm_returns=1.0,
                             max_hold_steps=0, ending="none", write_files=False)
    piece = compose(request).pieces[0]
    notes, start, bar = piece.score.notes, piece.generated_start_tick, 16
    first = _onsets(notes, start, bar)
    assert sum(map(bool, first)) >= 2  # the model did play in phrase A
    differs = False
    for phrase in (1, 3):
        again = _onsets(notes, start + phrase * bar, bar)
        assert [bool(s) for s in again] == [bool(s) for s in first]
        assert [s[0] for s in again if s] == [s[0] for s in first if s]
        differs |= again != first
    assert differs
