"""Say so when a composed piece has degenerated: near silence, or clusters of notes.

A piece's generated part is measured (notes per bar, mean notes sounding at once) and
compared with the range of the pieces the model was trained on: a checkpoint may record
the 5th, 50th and 95th percentiles of both per training piece under ``data.stats``; without
them wide bounds that hold for most written music are used. "Far outside" means below half
the 5th percentile or above one and a half times the 95th.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cadenza.metrics import rhythm
from cadenza.score import Score

# Bounds used when a checkpoint records no statistics of its corpus (5th, 95th percentile).
GENERIC = {"notes_per_bar": (4.0, 48.0), "polyphony": (1.0, 6.0)}
LOW_FACTOR, HIGH_FACTOR = 0.5, 1.5
ADVICE = {
    ("notes_per_bar", "low"): "near silence; try a higher --temperature, a lower --threshold "
                              "(piano-roll models) or --density",
    ("notes_per_bar", "high"): "crowded; try a lower --temperature or --density",
    ("polyphony", "high"): "clusters of notes; try a lower --temperature or --max-polyphony",
    ("polyphony", "low"): "thin; try a higher --temperature",
}
LABELS = {"notes_per_bar": "notes per bar", "polyphony": "notes sounding at once"}


def corpus_ranges(info: dict[str, Any]) -> tuple[dict[str, tuple[float, float]], str]:
    """The (5th, 95th) percentile of each measure in a checkpoint's training pieces, and
    what they describe ("the training pieces'" or "typical")."""
    stats = (info.get("data") or {}).get("stats")
    ranges: dict[str, tuple[float, float]] = {}
    if isinstance(stats, dict):
        for name in GENERIC:
            value = stats.get(name)
            if isinstance(value, list) and len(value) == 3:
                ranges[name] = (float(value[0]), float(value[2]))
    if len(ranges) == len(GENERIC):
        return ranges, "the training pieces'"
    return dict(GENERIC), "typical"


def generated_part(score: Score, start_tick: int) -> Score:
    """The notes that start at or after ``start_tick``, moved to start at tick 0."""
    notes = score.notes[score.notes["start"] >= start_tick].copy()
    notes["start"] -= start_tick
    return score.copy_with(notes=notes)


def degeneration_warnings(score: Score, start_tick: int, bars: float,
                          info: dict[str, Any]) -> list[str]:
    """One line per measure of the generated part (``bars`` long) far outside the corpus'
    range."""
    part = generated_part(score, start_tick)
    if part.num_notes == 0:
        return ["the model composed no notes at all; " + ADVICE[("notes_per_bar", "low")]]
    ranges, whose = corpus_ranges(info)
    values = {"notes_per_bar": part.num_notes / max(bars, 1e-9),
              "polyphony": rhythm.polyphony(part)}
    found = []
    for name, value in values.items():
        low, high = ranges[name]
        side = "low" if value < LOW_FACTOR * low else "high" if value > HIGH_FACTOR * high else None
        if side is None:
            continue
        where = "below" if side == "low" else "above"
        found.append(f"{value:.1f} {LABELS[name]}, far {where} {whose} {low:.1f}-{high:.1f}: "
                     f"{ADVICE[(name, side)]}")
    return found


STATS_PIECES = 200  # training pieces measured for a run's statistics (evenly spaced)


def corpus_stats(representation: Any, arrays: list[Any]) -> dict[str, list[float]] | None:
    """The 5th, 50th and 95th percentile of notes per bar and polyphony over (up to
    :data:`STATS_PIECES` of) the encoded training pieces, as a run records them under
    ``data.stats``; ``None`` when no piece can be measured."""
    if not arrays:
        return None
    step = max(1, len(arrays) // STATS_PIECES)
    values: dict[str, list[float]] = {name: [] for name in GENERIC}
    for array in arrays[::step]:
        try:
            score = representation.decode(array)
            if score.num_notes == 0:
                continue
            values["notes_per_bar"].append(rhythm.notes_per_bar(score))
            values["polyphony"].append(rhythm.polyphony(score))
        except Exception:
            continue
    if not values["notes_per_bar"]:
        return None
    return {name: [round(float(v), 3) for v in np.percentile(found, [5, 50, 95])]
            for name, found in values.items()}
