"""Voice leading of composed SATB pieces against Bach's own, held out.

Usage::

    python benchmarks/voice_leading.py [--model chorale-satb ...] [--blocks 3] [--pieces 4]
        [--bars 8] [--avoid-parallels P] [--threads 1]
        [--jsb ../shared/data/boulanger2012/jsb_chorales.json]

Rows of the table (counts per bar, mean ± standard deviation over the pieces):

- **cadenza**: for each ``--model``, ``--blocks`` batches of ``--pieces`` pieces of
  ``--bars`` bars composed with ``--ensemble satb`` (seeds 1, 2, ...; each batch one seed),
  measured on the composed part only (the primer left out), after the parts were assigned
  by voice leading (:mod:`cadenza.voicing`). The notes the assignment dropped or moved
  are counted beside. ``--avoid-parallels P`` composes with that strength of avoiding
  parallels (:mod:`cadenza.generation.parallels`; default: ``--ensemble satb``'s own, 1),
  ``0`` without it; the seconds each piece took to compose (on ``--threads`` CPU threads)
  are printed below the table.
- **JSB test, Bach's parts**: the JSB Chorales test split (a split no cadenza choice was
  made on), each piece read with its real four parts from music21's score of the same
  chorale (matched by :func:`cadenza.data.chorales.same_piece`; a piece music21 lacks is
  left out and counted).
- **JSB test, parts by cadenza**: the same test pieces as JSB gives them (quarter-note
  frames without parts), the parts assigned by :mod:`cadenza.voicing` as cadenza's own
  pieces are: what the assignment alone does to real chorales.

Metrics (:mod:`cadenza.metrics.voiceleading`): parallel fifths and octaves between any two
parts, crossings, and notes outside the SATB ranges (soprano C4-G5, alto G3-D5, tenor C3-G4,
bass E2-C4). Needs the data folder beside the project and music21; exits with a message
without them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _machine import cpu_model, usable_cores

from cadenza.api import compose_request
from cadenza.composing import compose
from cadenza.data.bach import chorale_names
from cadenza.data.boulanger import read_benchmark_data, steps_to_score
from cadenza.data.chorales import beat_frames, chorale_parts, frame_shapes, same_piece
from cadenza.ensembles import get_ensemble
from cadenza.metrics.voiceleading import VoiceLeading, voice_leading
from cadenza.voicing import arrange

JSB = Path(__file__).resolve().parents[2] / "shared" / "data" / "boulanger2012" / \
    "jsb_chorales.json"
SATB = get_ensemble("satb")
RANGES = [(part.low, part.high) for part in SATB.parts]
COLUMNS = ("parallel_fifths", "parallel_octaves", "crossings", "range_violations")


def composed(model: str, seed: int, pieces: int, bars: int, avoid_parallels: float | None,
             threads: int = 1) -> tuple[list[VoiceLeading], dict[str, int]]:
    """One seed block of the model's SATB pieces, measured after their primer
    (``avoid_parallels``: ``None``, the ensemble's default)."""
    options = {} if avoid_parallels is None else {"avoid_parallels": avoid_parallels}
    request = compose_request(model, ensemble="satb", bars=bars, count=pieces, seed=seed,
                              threads=threads, write_files=False, **options)
    result = compose(request)
    out = []
    for piece in result.pieces:
        assert piece.parts is not None
        start = piece.generated_start_tick
        tpq = piece.score.ticks_per_quarter
        parts = []
        for part in piece.parts:
            notes = part.notes[part.notes["start"] >= start].copy()
            notes["start"] -= start
            parts.append(notes)
        out.append(voice_leading(parts, 4 * tpq, RANGES))
    return out, result.arranged or {}


def bach_parts(test: list[list[list[int]]]) -> tuple[list[VoiceLeading], int]:
    """The JSB test pieces with their real parts from music21's score (those it has)."""
    shapes = [frame_shapes(piece) for piece in test]
    found: dict[int, list[np.ndarray]] = {}
    for name in chorale_names():
        parts = chorale_parts(name)
        frames = beat_frames(parts, rests=True) if parts else None
        if parts is None or frames is None:
            continue
        mine = frame_shapes(frames)
        for index, other in enumerate(shapes):
            if index not in found and same_piece(mine, other):
                found[index] = parts
    return [voice_leading(found[i], 16, RANGES) for i in sorted(found)], len(test) - len(found)


def cadenza_parts(test: list[list[list[int]]]) -> tuple[list[VoiceLeading], dict[str, int]]:
    """The JSB test frames, parts assigned by cadenza's voicing (one tick a quarter)."""
    out: list[VoiceLeading] = []
    counts: dict[str, int] = {}
    for index, piece in enumerate(test):
        arrangement = arrange(steps_to_score(piece, 1, name=f"test-{index}"), SATB)
        for key, value in arrangement.stats.items():
            counts[key] = counts.get(key, 0) + value
        out.append(voice_leading(arrangement.notes, 4, RANGES))
    return out, counts


def row(name: str, results: list[VoiceLeading], note: str = "") -> str:
    """A table row: per-bar means ± standard deviations over the pieces."""
    cells = []
    for column in COLUMNS:
        values = [r.per_bar()[column] for r in results]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        cells.append(f"{statistics.mean(values):.3f} ± {spread:.3f}")
    bars = sum(r.bars for r in results)
    violations = sum(r.range_violations for r in results)
    density = statistics.mean(r.notes / r.bars for r in results)
    return (f"| {name} | {len(results)} | {bars:.0f} | {density:.1f} | " + " | ".join(cells[:3])
            + f" | {violations} | {note} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["chorale-satb"],
                        help="models to compose with (shipped names or checkpoints)")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--pieces", type=int, default=4)
    parser.add_argument("--bars", type=int, default=8)
    parser.add_argument("--avoid-parallels", type=float, default=None,
                        help="0..1 (default: --ensemble satb's own; 0: off)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for composing")
    parser.add_argument("--jsb", type=Path, default=JSB)
    args = parser.parse_args(argv)
    if not args.jsb.is_file():
        print(f"no JSB Chorales at {args.jsb}: the reference is Bach's test split")
        return 1
    test = read_benchmark_data(args.jsb)["test"]
    began = time.perf_counter()
    print(f"machine: {cpu_model()}, {usable_cores()} usable cores; {time.strftime('%Y-%m-%d')}")
    print("\n| pieces | n | bars | notes / bar | parallel fifths / bar | parallel octaves / bar "
          "| crossings / bar | notes out of range | notes dropped, moved by octaves, cut |")
    print("|---|---|---|---|---|---|---|---|---|")
    timings: dict[str, float] = {}
    for model in args.model:
        every: list[VoiceLeading] = []
        composing = time.perf_counter()
        for block in range(1, args.blocks + 1):
            results, counts = composed(model, block, args.pieces, args.bars,
                                       args.avoid_parallels, args.threads)
            every += results
            note = f"{counts.get('dropped', 0)}, {counts.get('octave_shifted', 0)}, " \
                   f"{counts.get('cut_short', 0)}"
            print(row(f"cadenza {model}, seed {block}", results, note), flush=True)
        print(row(f"cadenza {model}, all blocks", every), flush=True)
        timings[model] = (time.perf_counter() - composing) / len(every)
    real, missing = bach_parts(test)
    print(row("JSB test, Bach's parts (music21)", real, f"{missing} of {len(test)} not in "
              "music21's corpus"))
    voiced, counts = cadenza_parts(test)
    print(row("JSB test, parts by cadenza's voicing", voiced,
              f"{counts['dropped']}, {counts['octave_shifted']}, {counts['cut_short']}"))
    print()
    for model, seconds in timings.items():
        print(f"{model}: {seconds:.2f} s to compose a piece of {args.bars} bars (composed "
              f"{args.pieces} at a time, measured included)")
    print(f"{time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
