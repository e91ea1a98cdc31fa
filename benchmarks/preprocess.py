"""Preprocessing speed: cadenza against pretty_midi and music21 on the same MIDI files.

Each pipeline reads every file and turns it into a binary piano roll of 88 keys at one step
per 16th note:

* cadenza: ``build_corpus`` with the ``pianoroll`` representation and every metre kept,
  from a cold cache in a temporary folder (so the time includes hashing, validation,
  quantisation, encoding and writing the cache), with 2 workers and with 1; then again
  with the warm cache; and with the cache off (reading and encoding only); each the median
  of ``--repeat`` runs. Every cadenza build runs in a process of its own, as
  ``cadenza preprocess`` does, timed from the call to the return of ``build_corpus``
  (imports excluded): builds in one long-lived process are not independent (each inherits
  the memory left by the ones before, which its forked helpers then copy on write), and
  ``--same-process`` measures that case too;
* pretty_midi: ``PrettyMIDI(path)``, a 16th-note grid from the tempo-aware beat times
  (``get_beats``, each beat cut in four), and every non-drum note painted straight onto that
  grid (onset and end rounded to the nearest 16th, at least one step), as cadenza paints its
  roll. (``get_piano_roll(fs=100, times=grid)`` would first build a dense 100 Hz roll and
  cost more than parsing: no fair baseline.) Run with 1 process and with 2 processes (a
  ``multiprocessing`` pool of 2, its start-up timed as cadenza's helpers' is), each the
  median of ``--repeat`` runs, ``pretty_midi`` imported before timing;
* music21 (a subset: it is slow): ``converter.parse``, then every note and chord of the
  flattened score set on a 16th-note grid from its offset and quarter length.

Like for like: cadenza with 1 worker against pretty_midi in 1 process, and 2 workers against
2 processes; the target (>= 100x pretty_midi, cold cache) is judged on those rows.

Usage: ``python benchmarks/preprocess.py [DATA_DIR] [--music21-files N] [--repeat N]
[--same-process]`` (defaults: piano-midi.de beside the project, 10, 3); DATA_DIR defaults
to ``../shared/data/piano-midi.de`` beside the project.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from cadenza.data import CorpusConfig, build_corpus
from cadenza.machine import cpu_model
from cadenza.midi import find_midi_files
from cadenza.representations import PianoRoll

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "piano-midi.de"
LOW, HIGH = 21, 108  # the 88 piano keys
STEPS_PER_QUARTER = 4
TARGET_RATIO = 100.0  # cadenza (2 workers, cold) vs pretty_midi, files per second
TARGET_SECONDS = 5.0  # whole corpus, 2 workers, cold cache

console = Console(width=132)  # one line per row, also when piped to a file


@dataclass
class Timing:
    name: str
    files: int
    seconds: float
    note: str = ""

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else float("inf")


# -- the pipelines ---------------------------------------------------------------------------
def build_once(data: Path, workers: int, cache: Path | None) -> Timing:
    """One build in this process; ``cache=None`` turns the cache off."""
    start = time.perf_counter()
    corpus = build_corpus(data, PianoRoll(), CorpusConfig(meters=None), workers=workers,
                          cache_dir=cache, use_cache=cache is not None, progress=False)
    seconds = time.perf_counter() - start
    steps = sum(len(p.array) for p in corpus.pieces)
    state = "no" if cache is None else "warm" if corpus.cache.array_hits else "cold"
    note = f"{len(corpus)} read, {sum(corpus.summary.skipped.values())} skipped, {steps:,} steps"
    return Timing(f"cadenza, {workers} worker{'s' * (workers > 1)}, {state} cache",
                  corpus.summary.files_found, seconds, note)


def run_cadenza(data: Path, workers: int, cache: Path | None, same_process: bool) -> Timing:
    """One build, in a fresh Python process unless ``same_process``."""
    if same_process:
        return build_once(data, workers, cache)
    command = [sys.executable, __file__, str(data), "--one-build", str(workers)]
    if cache is not None:
        command += ["--cache", str(cache)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark build failed: {done.stderr.strip()[-2000:]}")
    return Timing(**json.loads(done.stdout.strip().splitlines()[-1]))


def median_run(runs: list[Timing]) -> Timing:
    """The run of median time, its note extended with the range over the repeats."""
    ordered = sorted(runs, key=lambda t: t.seconds)
    middle = ordered[len(ordered) // 2]
    if len(runs) > 1:
        spread = f"median of {len(runs)}: {ordered[0].seconds:.2f}-{ordered[-1].seconds:.2f} s"
        middle.note = f"{middle.note}; {spread}"
    return middle


def pretty_midi_roll(path: Path) -> np.ndarray:
    """(T, 88) bool piano roll at 16th notes following the file's tempo map, the notes
    painted straight onto the grid (see the module docstring)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    beats = pm.get_beats()
    end = pm.get_end_time()
    beats = np.append(beats, beats[-1] + (beats[-1] - beats[-2] if len(beats) > 1 else 0.5))
    beat_index = np.arange(len(beats), dtype=np.float64)
    length = int(np.ceil(np.interp(end, beats, beat_index) * STEPS_PER_QUARTER)) + 1
    roll = np.zeros((length, HIGH - LOW + 1), dtype=bool)
    for instrument in pm.instruments:
        if instrument.is_drum or not instrument.notes:
            continue
        columns = np.array([(n.start, n.end, n.pitch) for n in instrument.notes])
        steps = np.rint(np.interp(columns[:, :2], beats, beat_index) * STEPS_PER_QUARTER)
        starts = steps[:, 0].astype(np.int64)
        ends = np.maximum(steps[:, 1].astype(np.int64), starts + 1)
        for start, stop, pitch in zip(starts, ends, columns[:, 2].astype(np.int64), strict=True):
            if LOW <= pitch <= HIGH:
                roll[start:stop, pitch - LOW] = True
    return roll


def music21_roll(path: Path) -> np.ndarray:
    """(T, 88) bool piano roll at 16th notes from music21's parse of the file."""
    from music21 import converter

    score = converter.parse(str(path), forceSource=True, storePickle=False)
    notes = score.flatten().notes
    length = int(np.ceil(float(score.highestTime) * STEPS_PER_QUARTER)) + 1
    roll = np.zeros((length, HIGH - LOW + 1), dtype=bool)
    for element in notes:
        start = round(float(element.offset) * STEPS_PER_QUARTER)
        end = max(start + 1,
                  round(float(element.offset + element.quarterLength) * STEPS_PER_QUARTER))
        for pitch in element.pitches:
            if LOW <= pitch.midi <= HIGH:
                roll[start:end, pitch.midi - LOW] = True
    return roll


def _roll_steps(job: tuple[Callable[[Path], np.ndarray], Path]) -> int:
    """Steps of one file's roll, or -1 when the third-party reader fails on it."""
    make_roll, path = job
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return len(make_roll(path))
        except Exception:  # a third-party reader's own error types: count and go on
            return -1


def run_per_file(name: str, files: list[Path], make_roll: Callable[[Path], np.ndarray],
                 processes: int = 1) -> Timing:
    """One pass over ``files``; with ``processes`` > 1 through a forked pool (its start-up
    included in the time, as cadenza's helpers' is)."""
    import multiprocessing

    jobs = [(make_roll, path) for path in files]
    start = time.perf_counter()
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            results = pool.map(_roll_steps, jobs, chunksize=max(1, len(jobs) // (8 * processes)))
    else:
        results = [_roll_steps(job) for job in jobs]
    seconds = time.perf_counter() - start
    failures = sum(r < 0 for r in results)
    steps = sum(r for r in results if r > 0)
    return Timing(name, len(files), seconds, f"{failures} failed, {steps:,} steps")


# -- report ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA,
                        help="folder of MIDI files (default: ../shared/data/piano-midi.de)")
    parser.add_argument("--music21-files", type=int, default=10,
                        help="files given to music21 (default 10; 0 skips it)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each cadenza variant; the median is shown (default 3)")
    parser.add_argument("--pretty-midi-files", type=int, default=0,
                        help="files given to pretty_midi (default 0 = all)")
    parser.add_argument("--same-process", action="store_true",
                        help="run every cadenza build in this process, one after another")
    parser.add_argument("--one-build", type=int, metavar="WORKERS", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        console.print(f"[red]no data folder at {args.data}[/]")
        return 2
    if args.one_build is not None:  # a child process measuring one build
        print(json.dumps(dataclasses.asdict(build_once(args.data, args.one_build, args.cache))))
        return 0
    files = find_midi_files(args.data)
    console.print(f"{len(files)} MIDI files under {args.data}")

    timings: list[Timing] = []
    runs: dict[str, list[Timing]] = {"two": [], "one": [], "warm": [], "none": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):  # a fresh cache folder for every cold run
            same = args.same_process
            runs["two"].append(run_cadenza(args.data, 2, Path(tmp) / f"two-{i}", same))
            runs["one"].append(run_cadenza(args.data, 1, Path(tmp) / f"one-{i}", same))
            runs["warm"].append(run_cadenza(args.data, 2, Path(tmp) / f"two-{i}", same))
            runs["none"].append(run_cadenza(args.data, 1, None, same))
    two, one, warm, none = (median_run(runs[k]) for k in ("two", "one", "warm", "none"))
    timings += [two, one, warm, none]
    import music21  # noqa: F401  # imports excluded from every timing, as for cadenza
    import pretty_midi  # noqa: F401

    pm_files = files[: args.pretty_midi_files] if args.pretty_midi_files else files
    pretty = median_run([run_per_file("pretty_midi, 1 process", pm_files, pretty_midi_roll)
                         for _ in range(args.repeat)])
    pretty2 = median_run([run_per_file("pretty_midi, 2 processes", pm_files, pretty_midi_roll, 2)
                          for _ in range(args.repeat)])
    timings += [pretty, pretty2]
    if args.music21_files:
        timings.append(run_per_file(f"music21, 1 process (first {args.music21_files})",
                                    files[: args.music21_files], music21_roll))

    # Each cadenza row against pretty_midi with as many processes as it has workers.
    same_workers = {two.name: pretty2, warm.name: pretty2, pretty2.name: pretty2}
    table = Table(title="Preprocessing: MIDI files -> 88-key piano roll at 16th notes")
    for column in ("pipeline", "files", "seconds", "files/s", "vs pretty_midi, same processes",
                   "details"):
        table.add_column(column, justify="left" if column in ("pipeline", "details") else "right")
    for t in timings:
        base = same_workers.get(t.name, pretty)
        ratio = t.files_per_second / base.files_per_second
        table.add_row(t.name, str(t.files), f"{t.seconds:.2f}", f"{t.files_per_second:.1f}",
                      f"{ratio:.2f}x vs {base.name.split(', ')[1]}", t.note)
    console.print(table)
    ratio = two.files_per_second / pretty2.files_per_second
    ratio_one = one.files_per_second / pretty.files_per_second
    where = "all in this process" if args.same_process else "each in a fresh process"
    console.print(
        f"cadenza builds: {where}; "
        f"machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"{dt.datetime.now().astimezone().isoformat(timespec='seconds')}"
    )
    console.print(
        f"targets: whole corpus in < {TARGET_SECONDS:.0f} s on 2 workers, cold cache: "
        f"{two.seconds:.2f} s ({'met' if two.seconds < TARGET_SECONDS else 'NOT met'}); "
        f">= {TARGET_RATIO:.0f}x pretty_midi, like for like, cold cache: 2 workers vs 2 "
        f"processes {ratio:.1f}x ({'met' if ratio >= TARGET_RATIO else 'NOT met'}), "
        f"1 worker vs 1 process {ratio_one:.1f}x "
        f"({'met' if ratio_one >= TARGET_RATIO else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
