"""A composed score as the JSON the page draws its piano roll from."""

from __future__ import annotations

from typing import Any

import numpy as np

from cadenza.score import DEFAULT_QPM, Score
from cadenza.tempomap import as_tempo_map

PRIMER, GENERATED, INPUT = "primer", "generated", "input"


def _seconds(ticks: np.ndarray, score: Score) -> np.ndarray:
    """Tick positions to seconds through the score's tempo map (column-wise)."""
    return as_tempo_map(score.tempos).seconds(ticks, score.ticks_per_quarter)


def notes_json(score: Score, generated_start_tick: int,
               input_notes: np.ndarray | None = None) -> dict[str, Any]:
    """The notes of ``score`` with times in beats (quarter notes) and in seconds.

    Each note says whether it belongs to the primer (it starts before
    ``generated_start_tick``), to the user's input (``input_notes``, (num_notes,) bool: a
    harmonised melody) or to the generated continuation.

    Returns:
        ``{"tempo_qpm", "beats_per_bar", "generated_start": {"beats", "seconds"},
        "end": {"beats", "seconds"}, "pitch_range": [low, high], "notes": [{"pitch",
        "velocity", "start", "duration", "start_seconds", "duration_seconds", "part"}]}``.
    """
    notes = score.notes
    tpq = float(score.ticks_per_quarter)
    starts = notes["start"].astype(np.int64)
    ends = starts + notes["duration"].astype(np.int64)
    start_s, end_s = _seconds(starts, score), _seconds(ends, score)
    end_tick = int(max(int(ends.max()) if len(notes) else 0, generated_start_tick))
    signature = score.time_signatures[0] if score.time_signatures else None
    beats_per_bar = 4.0 if signature is None else signature.numerator * 4.0 / signature.denominator
    gen_s = float(_seconds(np.array([generated_start_tick]), score)[0])
    end_s_total = float(_seconds(np.array([end_tick]), score)[0])
    return {
        "tempo_qpm": float(score.tempos[0].qpm) if score.tempos else DEFAULT_QPM,
        "beats_per_bar": beats_per_bar,
        "generated_start": {"beats": generated_start_tick / tpq, "seconds": gen_s},
        "end": {"beats": end_tick / tpq, "seconds": end_s_total},
        "pitch_range": [int(notes["pitch"].min()), int(notes["pitch"].max())] if len(notes)
        else [60, 72],
        "notes": [
            {
                "pitch": int(pitch),
                "velocity": int(velocity),
                "start": float(start) / tpq,
                "duration": float(end - start) / tpq,
                "start_seconds": round(float(s0), 4),
                "duration_seconds": round(float(s1 - s0), 4),
                "part": INPUT if given else GENERATED if start >= generated_start_tick
                else PRIMER,
            }
            for start, end, pitch, velocity, s0, s1, given in zip(
                starts, ends, notes["pitch"], notes["velocity"], start_s, end_s,
                np.zeros(len(notes), bool) if input_notes is None else input_notes, strict=True
            )
        ],
    }
