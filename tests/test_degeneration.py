"""A degenerate piece is named in one line: near silence, crowds and clusters."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from cadenza.composing import ComposeRequest, compose
from cadenza.degeneration import corpus_ranges, degeneration_warnings
from cadenza.score import Score, make_notes

TPQ = 4
STATS = {"data": {"stats": {"notes_per_bar": [10.0, 20.0, 40.0], "polyphony": [2.0, 3.0, 5.0]}}}


def _piece(starts: list[int], pitches: list[int], duration: int = 2) -> Score:
    return Score(make_notes(starts, [duration] * len(starts), pitches, 70), TPQ)


def test_a_piece_like_the_corpus_passes() -> None:
    starts = [s for s in range(0, 64, 2) for _ in range(3)]  # 3-note chords every 8th
    pitches = [p for _ in range(0, 64, 2) for p in (48, 55, 64)]
    assert degeneration_warnings(_piece(starts, pitches), 0, 4, STATS) == []


def test_near_silence_and_clusters_are_named() -> None:
    quiet = degeneration_warnings(_piece([0, 40], [60, 62]), 0, 4, STATS)
    assert len(quiet) == 1 and "0.5 notes per bar, far below the training pieces' 10.0-40.0"\
        in quiet[0] and "--temperature" in quiet[0]
    cluster = _piece([0] * 16 + [32] * 16, list(range(40, 56)) * 2, duration=16)
    lines = degeneration_warnings(cluster, 0, 4, STATS)
    assert any("notes sounding at once, far above" in line for line in lines)
    silent = degeneration_warnings(_piece([], []), 0, 4, STATS)
    assert silent[0].startswith("the model composed no notes") and "near silence" in silent[0]


def test_only_the_generated_part_counts_and_generic_bounds_without_stats() -> None:
    primer = _piece(list(range(0, 64)), [60 + i % 12 for i in range(64)])
    notes = np.concatenate([primer.notes, make_notes([64], [2], [60], 70)])
    score = Score(notes, TPQ)
    assert "far below typical" in degeneration_warnings(score, 64, 4, {})[0]
    assert corpus_ranges({})[1] == "typical"
    assert corpus_ranges(STATS) == ({"notes_per_bar": (10.0, 40.0), "polyphony": (2.0, 5.0)},
                                    "the training pieces'")


def test_composing_near_silence_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    request = ComposeRequest(checkpoint="pianoroll-piano", out_dir=tmp_path, bars=8, seed=0,
                             threshold=0.3, write_files=False, ending="none")
    with caplog.at_level(logging.WARNING, logger="cadenza.composing"):
        piece = compose(request).pieces[0]
    assert len(piece.warnings) == 1 and "near silence" in piece.warnings[0]
    assert "--threshold" in piece.warnings[0]
    assert any("near silence" in r.getMessage() for r in caplog.records)


def test_a_training_run_records_its_pieces_statistics(web_runs: Path) -> None:
    """Runs record the percentiles the warnings compare with (not only shipped models)."""
    import json

    info = json.loads((web_runs / "pianoroll-debug" / "run.json").read_text())
    stats = info["data"]["stats"]
    assert set(stats) == {"notes_per_bar", "polyphony"}
    for low, middle, high in stats.values():
        assert 0 < low <= middle <= high
    assert corpus_ranges(info)[1] == "the training pieces'"
