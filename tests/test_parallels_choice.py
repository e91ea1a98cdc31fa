"""Avoiding parallels: among the candidate draws of a step, keep one that moves in no
parallel fifth or octave (``cadenza.generation.parallels``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cadenza.api import compose_files
from cadenza.cli import app
from cadenza.composing import ComposeRequest
from cadenza.errors import ConfigError
from cadenza.generation import GenerationConfig
from cadenza.generation.candidates import CandidateChoice
from cadenza.generation.notes import candidate_choice
from cadenza.generation.parallels import AvoidParallels, check_avoid_parallels, step_parallels
from cadenza.generation.rhythmcopy import RhythmCopy
from cadenza.metrics.voiceleading import voice_leading

NOTES = 24


def _step(chords: list[list[int]]) -> torch.Tensor:
    """(B, N, 2) steps: row b strikes the notes ``chords[b]``."""
    step = torch.zeros(len(chords), NOTES, 2)
    for row, chord in enumerate(chords):
        step[row, chord] = 1.0
    return step


def test_step_parallels_reads_the_parts_by_rank() -> None:
    c_g, d_a = np.array([0, 7]), np.array([2, 9])
    assert step_parallels(c_g, d_a) == 1  # a fifth moving up a tone
    assert step_parallels(np.array([0, 12]), np.array([2, 14])) == 1  # an octave
    assert step_parallels(c_g, np.array([2, 10])) == 0  # a fifth to a sixth
    assert step_parallels(c_g, np.array([0, 9])) == 0  # oblique: the bass holds
    assert step_parallels(c_g, np.array([-5, 14])) == 0  # contrary motion
    # three notes to two: only the outer parts, bass to bass and top to top
    assert step_parallels(np.array([0, 4, 7]), np.array([2, 9])) == 1


def test_the_choice_keeps_a_clean_row_over_a_row_in_parallel_fifths() -> None:
    rule = AvoidParallels(1.0, pieces=2, seed=0, candidates=3)
    choice = CandidateChoice([rule], pieces=2, candidates=3)
    past = [_step([[]] * 6), _step([[0, 7]] * 3 + [[0, 7, 12]] * 3)]
    # piece 0: rows 0 and 2 move in parallel fifths, row 1 into a sixth; piece 1: every
    # row moves in parallels, row 4 (its second) in the fewest
    step = _step([[2, 9], [2, 10], [2, 9], [2, 9, 14], [2, 9, 13], [2, 9, 14]])
    assert rule.costs([*past, step]).tolist() == [[1, 0, 1], [2, 1, 2]]
    assert choice.choose([*past, step]).tolist() == [1, 1, 1, 4, 4, 4]


def test_clean_rows_keep_the_first_draw_and_the_previous_sonority_is_the_last_onset() -> None:
    rule = AvoidParallels(1.0, pieces=1, seed=0, candidates=2)
    choice = CandidateChoice([rule], pieces=1, candidates=2)
    held = torch.zeros(2, NOTES, 2)
    held[:, [0, 7], 0] = 1.0  # C and G held on, the top C let go: no new sonority
    steps = [_step([[], []]), _step([[0, 7, 12], [0, 7, 12]]), held]
    # from C-G-C both rows are clean (bass up, top down); from C-G, D-A would be fifths
    assert choice.choose([*steps, _step([[2, 9], [4, 10]])]).tolist() == [0, 0]
    assert choice.choose([*steps, _step([[2, 9, 14], [4, 10]])]).tolist() == [1, 1]


def test_silence_is_kept_only_where_every_sounding_draw_moves_in_parallels() -> None:
    rule = AvoidParallels(1.0, pieces=3, seed=0, candidates=3)
    past = [_step([[]] * 9), _step([[0, 7]] * 9)]
    step = _step([[2, 9], [], [2, 10],  # the first in fifths: a clean chord before silence
                  [2, 9], [], [2, 9],  # every chord in fifths: silence
                  [], [2, 9], [2, 10]])  # the first draw silent, so clean: kept
    assert rule.costs([*past, step]).tolist() == [[1, 0.5, 0], [1, 0.5, 1], [0, 1, 0]]


def test_with_rhythm_copy_one_choice_weighs_both_rules() -> None:
    copy = RhythmCopy(1.0, pieces=1, steps_per_bar=2, seed=0, candidates=3)
    rule = AvoidParallels(1.0, pieces=1, seed=0, candidates=3)
    choice = CandidateChoice([copy, rule], pieces=1, candidates=3)
    # a bar (two steps) before the new step, a note started: the step is held to start one
    steps = [_step([[]] * 3), _step([[0, 7]] * 3), _step([[0, 7]] * 3)]
    steps[-1][..., 1] = 0.0  # held on, not struck
    new = _step([[], [2, 9], [2, 10]])  # row 0 starts nothing; row 1 in fifths; row 2 clean
    assert choice.choose([*steps, new]).tolist() == [2, 2, 2]


def test_strength_zero_asks_for_no_candidates_and_leaves_rhythm_copy_as_it_was() -> None:
    assert candidate_choice(GenerationConfig(avoid_parallels=0.0)) is None
    config = GenerationConfig(rhythm_copy=0.9, avoid_parallels=0.0, count=2, seed=3)
    choice = candidate_choice(config)
    alone = RhythmCopy(0.9, pieces=2, seed=3)
    assert choice is not None and len(choice.rules) == 1
    generator = torch.Generator().manual_seed(0)
    steps: list[torch.Tensor] = []
    for _ in range(40):
        steps.append((torch.rand(8, NOTES, 2, generator=generator) > 0.9).float())
        assert choice.choose(steps).tolist() == alone.choose(steps).tolist()


def _parallels(**options: object) -> int:
    total = 0
    for seed in (1, 2, 3):
        result = compose_files("chorale-satb", ensemble="satb", bars=4, count=3,
                                           seed=seed, threads=1, write_files=False, **options)
        for piece in result.pieces:
            assert piece.parts is not None
            start = piece.generated_start_tick
            parts = [part.notes[part.notes["start"] >= start] for part in piece.parts]
            counts = voice_leading(parts, 4 * piece.score.ticks_per_quarter)
            total += counts.parallel_fifths + counts.parallel_octaves
    return total


def test_satb_composed_with_it_writes_fewer_parallels() -> None:
    off, on = _parallels(avoid_parallels=0.0), _parallels(avoid_parallels=1.0)
    assert on <= off // 3  # 2 against 11 in these 36 bars
    assert _parallels() == on  # --ensemble satb avoids them by default


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "1"])
def test_bad_strengths_are_refused_in_one_line(bad: object) -> None:
    for check in (lambda: check_avoid_parallels(bad),  # type: ignore[arg-type]
                  lambda: ComposeRequest(avoid_parallels=bad),  # type: ignore[arg-type]
                  lambda: GenerationConfig(avoid_parallels=bad)):  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"^avoid_parallels must be a probability in "
                           r"0\.\.1, got [^\n]+$"):
            check()


def test_the_cli_takes_it_and_refuses_it_where_it_cannot_act(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["generate", "--avoid-parallels", "2", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "avoid_parallels must be a probability" in bad.output
    roll = runner.invoke(app, ["generate", "pianoroll-piano", "--avoid-parallels", "1",
                               "--out", str(tmp_path)])
    assert roll.exit_code == 2 and "avoid-parallels: the pianoroll family" in roll.output
