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
