"""Every musical metric by name, with its unit, and :func:`compute_all`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cadenza.errors import ConfigError
from cadenza.metrics import dynamics, harmony, pitch, rhythm, structure
from cadenza.score import Score


@dataclass(frozen=True)
class Metric:
    """One metric: a pure function from a quantised score to a float, and its unit."""

    name: str
    function: Callable[[Score], float]
    unit: str
    summary: str

    def __call__(self, score: Score) -> float:
        return float(self.function(score))

    def describe(self) -> dict[str, str]:
        return {"unit": self.unit, "summary": self.summary}


_METRICS = (
    Metric("pitch_class_entropy", pitch.pitch_class_entropy, "bits",
           "entropy of the pitch-class histogram of onsets"),
    Metric("pitch_range", pitch.pitch_range, "semitones", "highest minus lowest pitch"),
    Metric("pitches_used", pitch.pitches_used, "pitches", "distinct MIDI pitches"),
    Metric("scale_consistency", pitch.scale_consistency, "share",
           "largest share of notes in one major/minor scale"),
    Metric("polyphony", rhythm.polyphony, "notes", "mean pitches sounding when any sounds"),
    Metric("polyphony_rate", rhythm.polyphony_rate, "share",
           "sounding steps with two or more pitches"),
    Metric("empty_beat_rate", rhythm.empty_beat_rate, "share", "quarter notes with no sound"),
    Metric("longest_silence", rhythm.longest_silence, "beats", "longest span with no sound"),
    Metric("qualified_note_rate", rhythm.qualified_note_rate, "share",
           "notes lasting at least a 16th"),
    Metric("groove_consistency", rhythm.groove_consistency, "share",
           "1 - mean onset-pattern distance of consecutive bars"),
    Metric("notes_per_bar", rhythm.notes_per_bar, "notes/bar", "note density per bar"),
    Metric("notes_per_second", rhythm.notes_per_second, "notes/s", "note density in time"),
    Metric("longest_repeated_note_run", rhythm.longest_repeated_note_run, "onsets",
           "longest run of one pitch struck alone"),
    Metric("dissonance_rate", harmony.dissonance_rate, "share",
           "sounding pairs a 2nd, 7th or tritone apart"),
    Metric("tonal_closure", harmony.tonal_closure, "share",
           "final sonority in the tonic triad of the piece's key, tonic in the bass"),
    Metric("repeated_bar_rate", structure.repeated_bar_rate, "share",
           "non-empty bars repeating an earlier bar"),
    Metric("compression_ratio", structure.compression_ratio, "ratio",
           "note stream size over its DEFLATE size"),
    Metric("velocity_mean", dynamics.velocity_mean, "velocity", "mean MIDI velocity"),
    Metric("velocity_spread", dynamics.velocity_spread, "velocity",
           "standard deviation of the velocities"),
    Metric("velocity_change_per_bar", dynamics.velocity_change_per_bar, "velocity",
           "mean change of the bar's mean velocity from bar to bar"),
)

METRICS: dict[str, Metric] = {metric.name: metric for metric in _METRICS}
"""Every metric by name, in the order tables list them."""


def metric_names() -> tuple[str, ...]:
    """The names of every metric, in registry order."""
    return tuple(METRICS)


def get_metric(name: str) -> Metric:
    """The metric called ``name``.

    Raises:
        ConfigError: no metric has that name.
    """
    try:
        return METRICS[name]
    except KeyError:
        raise ConfigError(
            f"unknown metric {name!r}; expected one of {', '.join(METRICS)}"
        ) from None


def compute_all(score: Score, names: Iterable[str] | None = None) -> dict[str, float]:
    """Every metric (or those in ``names``) of ``score``, by name, in registry order.

    Raises:
        DataError: ``score`` has no notes (every metric is undefined on an empty score).
        ConfigError: a name is not a metric.
    """
    chosen = [get_metric(name) for name in names] if names is not None else list(_METRICS)
    return {metric.name: metric(score) for metric in chosen}
