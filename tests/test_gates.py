"""The pass/fail rules of ``benchmarks/gates.py``: each gate's bound, and a mean overlap that
leaves out the metrics constant in both sets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gates


@pytest.mark.parametrize(("rule", "bound", "generated", "real", "passes"), [
    ("within", 0.15, 11.5, 10.0, True),
    ("within", 0.15, 8.4, 10.0, False),
    ("within", 0.15, 11.6, 10.0, False),
    ("at_most_times", 1.3, 0.13, 0.1, True),
    ("at_most_times", 1.3, 0.131, 0.1, False),
    ("at_most", 0.0, 0.01, 0.02, True),
    ("at_most", 0.0, 0.03, 0.02, False),
])
def test_each_gate_rule_passes_inside_its_bound_only(rule: str, bound: float, generated: float,
                                                     real: float, passes: bool) -> None:
    assert gates.Gate("m", rule, bound).passes(generated, real) is passes


def _entry(generated: float, real: float, overlap: float, spread: float = 1.0
           ) -> dict[str, Any]:
    return {"generated": {"mean": generated, "std": spread},
            "reference": {"mean": real, "std": spread},
            "overlap_area": {"generated": overlap, "reference": overlap}}


def _metrics(**extra: dict[str, Any]) -> dict[str, Any]:
    metrics = {"notes_per_bar": _entry(20.0, 21.0, 0.79),
               "polyphony": _entry(3.0, 3.2, 0.79),
               "dissonance_rate": _entry(0.19, 0.15, 0.79),
               "empty_beat_rate": _entry(0.01, 0.02, 0.79),
               "velocity_spread": _entry(14.0, 13.0, 0.79)}
    metrics.update(extra)
    return metrics


def test_a_constant_metric_is_left_out_of_the_mean_overlap() -> None:
    """A rate that is 1 in every piece of both sets overlaps perfectly by construction: with
    it the mean would pass (0.79 x 5 and 1.0 -> 0.825), without it it fails (0.79)."""
    constant = _entry(1.0, 1.0, 1.0, spread=0.0)
    rows, left_out = gates.gate_rows(_metrics(qualified_note_rate=constant))
    assert left_out == ["qualified_note_rate"]
    overlap = rows["mean_overlap_generated"]
    assert overlap["generated"] == pytest.approx(0.79) and overlap["pass"] is False
    assert all(rows[g.metric]["pass"] for g in gates.GATES)  # the five other gates pass
    varying = _entry(1.0, 1.0, 1.0, spread=0.1)  # the same overlap from a metric that varies
    rows, left_out = gates.gate_rows(_metrics(qualified_note_rate=varying))
    assert left_out == [] and rows["mean_overlap_generated"]["pass"] is True


def test_a_failing_gate_is_counted_as_failing() -> None:
    rows, _ = gates.gate_rows(_metrics(dissonance_rate=_entry(0.25, 0.15, 0.79)))
    assert rows["dissonance_rate"]["pass"] is False
    assert rows["notes_per_bar"]["pass"] is True


def test_the_window_reference_holds_the_windows_realism_judges(tmp_path: Path) -> None:
    """A piece of 48 bars silent from bar 18 to 29 gives the windows realism takes (bars 0-15,
    then 22-37: a window from bar 16 would be mostly silent), each written from its bar line
    with the piece's velocities and the tempo in force there."""
    from types import SimpleNamespace

    import numpy as np
    from _pieces import write_windows

    from cadenza.metrics import realism
    from cadenza.midi import read_midi
    from cadenza.score import Score, make_notes
    from cadenza.tempomap import Tempo

    bar = realism.STEPS_PER_BAR
    starts = [step for step in range(0, 48 * bar, 2) if not 18 * bar <= step < 30 * bar]
    pitches = [60 + (step // 2) % 12 for step in starts]
    velocities = [40 + (step // bar) for step in starts]
    score = Score(make_notes(starts, [2] * len(starts), pitches, velocities), 4,
                  tempos=(Tempo(0, 90.0), Tempo(20 * bar, 150.0)), name="p")
    piece = SimpleNamespace(path="dir/p.mid", score=score)
    assert realism.window_starts(score, 16) == [0, 22 * bar]
    assert write_windows([piece], 16, tmp_path) == 2
    files = sorted(tmp_path.glob("*.mid"))
    assert [f.name for f in files] == ["dir-p.mid.window-0.mid", f"dir-p.mid.window-{22 * bar}.mid"]
    for file, first_bar, qpm in zip(files, (0, 22), (90.0, 150.0), strict=True):
        window = read_midi(file)
        ticks = window.ticks_per_quarter // 4  # ticks per sixteenth
        assert window.tempos.qpm_at(0) == pytest.approx(qpm)
        steps = window.notes["start"] // ticks
        assert int(steps.max()) < 16 * bar
        assert np.array_equal(window.notes["velocity"], 40 + first_bar + steps // bar)
