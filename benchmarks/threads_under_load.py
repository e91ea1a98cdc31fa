"""Batch-1 composing on 1 thread against torch's default, on an idle and on a busy machine.

cadenza composes a single piece of a grid model on one torch thread unless told otherwise
(``ComposeRequest.threads``). This script measures that choice: it composes the same piece
(``--model``, ``--bars`` bars, seed 0) with 1 thread and with ``--threads-other`` (default:
every core), ``--repeats`` times each, alternating, first with the machine as it is and then
with ``--busy`` spinning processes beside it (another job on the machine). It prints the
median seconds per piece.

Usage: ``python benchmarks/threads_under_load.py [--model biaxial-piano] [--bars 32]
[--busy 1] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _machine import cpu_model, usable_cores

SPIN = "while True: pass"


def compose_seconds(model: str, bars: int, threads: int) -> float:
    import cadenza

    start = time.perf_counter()
    cadenza.compose(model, bars=bars, seed=0, threads=threads, ending="none")
    return time.perf_counter() - start


def measure(model: str, bars: int, counts: list[int], repeats: int) -> dict[int, float]:
    times: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(repeats):
        for n in counts:
            times[n].append(compose_seconds(model, bars, n))
    return {n: statistics.median(values) for n, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="biaxial-piano")
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument("--busy", type=int, default=1, help="spinning processes for 'busy'")
    parser.add_argument("--threads-other", type=int, default=usable_cores())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import cadenza

    cadenza.compose(args.model, bars=2, seed=1, threads=1)  # warm-up: model, primers
    counts = sorted({1, args.threads_other})
    rows = [("as it is", measure(args.model, args.bars, counts, args.repeats))]
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.busy)]
    try:
        time.sleep(0.5)
        rows.append((f"{args.busy} busy process(es) beside it",
                     measure(args.model, args.bars, counts, args.repeats)))
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    load = os.getloadavg()[0]
    print(f"{args.model}, {args.bars} bars, batch 1, median of {args.repeats}; {cpu_model()}, "
          f"{usable_cores()} usable cores; load average {load:.2f} at the end\n")
    print("| machine | " + " | ".join(f"{n} thread(s), s" for n in counts) + " | 1 thread vs "
          f"{counts[-1]} |")
    print("| --- | " + " | ".join("---" for _ in counts) + " | --- |")
    for label, result in rows:
        ratio = result[counts[-1]] / result[1]
        print(f"| {label} | " + " | ".join(f"{result[n]:.2f}" for n in counts)
              + f" | {ratio:.2f}x faster |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
