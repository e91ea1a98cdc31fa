"""Rhythm copy: a step starts a note where the step a bar earlier did, by choosing among draws
of the step (``cadenza.generation.rhythmcopy``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cadenza.errors import ConfigError
from cadenza.generation.rhythmcopy import RhythmCopy, check_rhythm_copy, starts_any


def _step(rows: list[bool], notes: int = 3) -> torch.Tensor:
    """(B, N, 2) steps whose row b strikes note 0 where ``rows[b]``."""
    step = torch.zeros(len(rows), notes, 2)
    for b, struck in enumerate(rows):
        if struck:
            step[b, 0] = torch.tensor([1.0, 1.0])
    return step


def test_starts_any_sees_strikes_and_entries_not_holds() -> None:
    before = torch.zeros(3, 2, 2)
    before[2, 0, 0] = 1  # row 2 sounds note 0 before the step
    step = torch.zeros(3, 2, 2)
    step[0, 1] = torch.tensor([1.0, 0.0])  # row 0: enters after silence
    step[2, 0] = torch.tensor([1.0, 0.0])  # row 2: holds
    assert starts_any(step, before).tolist() == [True, False, False]


def test_a_row_that_starts_a_note_where_the_bar_before_did_is_kept() -> None:
    copy = RhythmCopy(1.0, pieces=2, steps_per_bar=2, seed=0, candidates=3)
    # step t-2 (a bar earlier) struck in piece 0's rows, silent in piece 1's
    steps = [_step([False] * 6), _step([True] * 3 + [False] * 3), _step([False] * 6),
             _step([False, False, True, True, False, True])]
    index = copy.choose(steps)
    # piece 0: its first struck row; piece 1: no onset to hold, so its first draw
    assert index.tolist() == [2, 2, 2, 3, 3, 3]


def test_no_agreeing_row_or_no_bar_yet_keeps_the_first_draw() -> None:
    copy = RhythmCopy(1.0, pieces=1, steps_per_bar=2, seed=0, candidates=2)
    assert copy.choose([_step([True, True])]).tolist() == [0, 0]  # no bar before yet
    steps = [_step([False, False]), _step([True, True]), _step([False, False]),
             _step([False, False])]
    assert copy.choose(steps).tolist() == [0, 0]


def test_strength_is_a_probability() -> None:
    assert check_rhythm_copy(0.5) == 0.5
    for bad in (-0.1, 1.5, True, "1"):
        with pytest.raises(ConfigError, match="rhythm_copy must be a probability"):
            check_rhythm_copy(bad)  # type: ignore[arg-type]


def _onset_agreement(notes: np.ndarray, start_tick: int, bars: int) -> float:
    """Share of the generated steps with an onset a bar earlier that have one too."""
    onset = np.zeros(bars * 16, dtype=bool)
    starts = notes["start"][notes["start"] >= start_tick] - start_tick
    onset[starts[starts < bars * 16]] = True
    return float(onset[16:][onset[:-16]].mean())


def test_compose_with_rhythm_copy_repeats_the_rhythm_of_the_bar_before() -> None:
    import cadenza

    base = dict(bars=4, composer="Bach", form="none", ending="none", rhythm_guide=0.0)
    agreement = {}
    for strength in (0.0, 1.0):
        scores = [cadenza.compose("biaxial-piano", seed=seed, rhythm_copy=strength, **base)
                  for seed in (1, 2)]  # type: ignore[arg-type]
        agreement[strength] = np.mean([_onset_agreement(s.notes, s.generated_start_tick, 4)
                                       for s in scores])
    assert agreement[1.0] >= 0.9 > agreement[0.0]
    assert agreement[1.0] - agreement[0.0] >= 0.1
