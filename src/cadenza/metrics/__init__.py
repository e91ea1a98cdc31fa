"""Objective musical metrics of one piece: pure functions from a quantised score to a float.

Each metric takes a quantised :class:`~cadenza.score.Score` (one tick is one grid step) and
returns a float whose definition and unit its docstring gives; :data:`METRICS` lists them by
name and :func:`compute_all` runs them all. A piece spans tick 0 to the end of its last note,
a beat is a quarter note, bars follow the score's time signatures (4/4 when it has none).

An empty score (no notes, or no note lasting a tick) has no pitch, texture or rhythm to
measure: every metric raises :class:`~cadenza.errors.DataError` on it rather than invent a
value, and a batch evaluation counts such pieces as skipped.

Modules: :mod:`~cadenza.metrics.pitch`, :mod:`~cadenza.metrics.rhythm`,
:mod:`~cadenza.metrics.harmony`, :mod:`~cadenza.metrics.structure`, over the shared grid of
:mod:`~cadenza.metrics.timeline`. Comparing whole sets of pieces is
:mod:`cadenza.evaluation`'s job.
"""

from cadenza.metrics.harmony import DISSONANT_INTERVAL_CLASSES, dissonance_rate
from cadenza.metrics.pitch import (
    best_key,
    pitch_class_entropy,
    pitch_range,
    pitches_used,
    scale_consistency,
)
from cadenza.metrics.registry import METRICS, Metric, compute_all, get_metric, metric_names
from cadenza.metrics.rhythm import (
    empty_beat_rate,
    groove_consistency,
    longest_repeated_note_run,
    longest_silence,
    notes_per_bar,
    notes_per_second,
    polyphony,
    polyphony_rate,
    qualified_note_rate,
)
from cadenza.metrics.structure import compression_ratio, note_stream_bytes, repeated_bar_rate

__all__ = [
    "DISSONANT_INTERVAL_CLASSES",
    "METRICS",
    "Metric",
    "best_key",
    "compression_ratio",
    "compute_all",
    "dissonance_rate",
    "empty_beat_rate",
    "get_metric",
    "groove_consistency",
    "longest_repeated_note_run",
    "longest_silence",
    "metric_names",
    "note_stream_bytes",
    "notes_per_bar",
    "notes_per_second",
    "pitch_class_entropy",
    "pitch_range",
    "pitches_used",
    "polyphony",
    "polyphony_rate",
    "qualified_note_rate",
    "repeated_bar_rate",
    "scale_consistency",
]
