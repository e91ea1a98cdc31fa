"""How much music a token window holds, per token representation.

Usage::

    python benchmarks/token_density.py [--limit N] [--window 256]

A sequence model sees a fixed window of elements, and its cost grows with the window (the
transformer's attention quadratically). For each element representation of cadenza (the
events family's MIDI messages, the note-token family's note/chord/rest tokens, the
transformer's remi tokens) this encodes the 4/4 pieces of piano-midi.de (beside the project
in ``../shared/data``; synthetic pieces when it is absent) and reports elements per note,
per bar, and how many bars and notes one window of ``--window`` elements covers, plus
whether the representation keeps velocities and exact onsets. That is the measurement
behind the transformer family's choice of representation.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from _machine import real_scores, synthetic_score

from cadenza.experiment import make_representation
from cadenza.score import Score

FAMILIES = ("events", "notetokens", "transformer")


def pieces(steps_per_quarter: int, limit: int | None) -> tuple[list[Score], str]:
    """The corpus' 4/4 pieces on this grid, or synthetic ones when it is absent."""
    scores = real_scores(steps_per_quarter, limit)
    if scores:
        return scores, f"{len(scores)} piano-midi.de 4/4 pieces"
    synthetic = [synthetic_score(steps_per_quarter=steps_per_quarter, seed=seed)
                 for seed in range(8)]
    return synthetic, "8 synthetic pieces (no data folder)"


def measure(family: str, limit: int | None, window: int) -> dict[str, float]:
    """Elements per note and per bar over the pieces, and a window's coverage."""
    representation = make_representation(family)
    spq = representation.config.steps_per_quarter
    scores, _ = pieces(spq, limit)
    representation.fit(scores)
    elements = notes = bars = 0.0
    for score in scores:
        array = representation.encode(score)
        elements += len(array)
        notes += len(score.notes)
        bars += max(score.end_tick / (4 * score.ticks_per_quarter), 1.0)
    per_note = elements / max(notes, 1)
    per_bar = elements / max(bars, 1)
    decoded = representation.decode(representation.encode(scores[0]))
    return {
        "elements_per_note": per_note,
        "elements_per_bar": per_bar,
        "bars_per_window": window / per_bar,
        "notes_per_window": window / per_note,
        "velocity_kept": float(len(set(decoded.notes["velocity"].tolist())) > 1),
        "steps_per_quarter": float(spq),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="pieces (default: all)")
    parser.add_argument("--window", type=int, default=256, help="elements per window")
    args = parser.parse_args(argv)
    scores, source = pieces(4, args.limit)
    notes_per_bar = statistics.mean(
        len(s.notes) / max(s.end_tick / (4 * s.ticks_per_quarter), 1.0) for s in scores)
    print(f"{source}; {notes_per_bar:.1f} notes per bar; window {args.window} elements\n")
    print("| representation (family) | grid steps/quarter | elements/note | elements/bar | "
          "bars per window | notes per window | velocities kept |")
    print("|---|---|---|---|---|---|---|")
    for family in FAMILIES:
        row = measure(family, args.limit, args.window)
        print(f"| {make_representation(family).name} ({family}) | "
              f"{row['steps_per_quarter']:.0f} | {row['elements_per_note']:.2f} | "
              f"{row['elements_per_bar']:.1f} | "
              f"{row['bars_per_window']:.1f} | {row['notes_per_window']:.0f} | "
              f"{'yes' if row['velocity_kept'] else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
