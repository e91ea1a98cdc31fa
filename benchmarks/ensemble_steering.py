"""How much the part writing has to drop or move, with and without steering the composition.

Usage::

    python benchmarks/ensemble_steering.py [--seeds 1 2 3] [--pieces 4] [--bars 8]

``--ensemble`` steers a grid model to the ensemble (its whole range, at most as many notes at
once as it has parts, SATB a Bach primer). For each model and ensemble this composes
``--pieces`` pieces of ``--bars`` bars per seed twice: with ``ensemble=`` (steered), and
without it, the same pieces then shared among the parts afterwards (free). It prints the
notes the part writing dropped and moved by octaves, out of the notes composed (primer
included, as both ways arrange it).
"""

from __future__ import annotations

import argparse
import sys
import time

from _machine import cpu_model, usable_cores

from cadenza.api import compose_request
from cadenza.composing import compose
from cadenza.ensembles import get_ensemble
from cadenza.voicing import arrange

CASES = (("biaxial-piano", "quartet"), ("chorale-satb", "satb"), ("biaxial-piano", "satb"))


def counts(model: str, name: str, seed: int, pieces: int, bars: int, steered: bool
           ) -> tuple[int, int, int]:
    """(dropped, moved by octaves, notes composed) over one seed's pieces."""
    ensemble = get_ensemble(name)
    options = {"ensemble": name} if steered else {"composer": ensemble.composer}
    result = compose(compose_request(model, bars=bars, count=pieces, seed=seed, threads=1,
                                     write_files=False, **options))
    if steered:
        arranged = result.arranged or {}
        notes = sum(p.score.num_notes for p in result.pieces) + arranged.get("dropped", 0)
        return arranged.get("dropped", 0), arranged.get("octave_shifted", 0), notes
    dropped = shifted = notes = 0
    for piece in result.pieces:
        arrangement = arrange(piece.score, ensemble)
        dropped, shifted = dropped + arrangement.dropped, shifted + arrangement.shifted
        notes += piece.score.num_notes
    return dropped, shifted, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--pieces", type=int, default=4)
    parser.add_argument("--bars", type=int, default=8)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    print(f"machine: {cpu_model()}, {usable_cores()} usable cores; {time.strftime('%Y-%m-%d')}")
    print("\n| model | ensemble | composed | notes | dropped | moved by octaves |")
    print("|---|---|---|---|---|---|")
    for model, name in CASES:
        for steered in (True, False):
            totals = [0, 0, 0]
            for seed in args.seeds:
                for i, value in enumerate(counts(model, name, seed, args.pieces, args.bars,
                                                 steered)):
                    totals[i] += value
            dropped, shifted, notes = totals
            how = "steered (--ensemble)" if steered else "free, parts afterwards"
            print(f"| {model} | {name} | {how} | {notes} | {dropped} ({dropped / notes:.1%}) "
                  f"| {shifted} ({shifted / notes:.1%}) |", flush=True)
    print(f"\n{time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
