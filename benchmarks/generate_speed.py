"""Generation speed of every model family as a real-time factor.

For each model (the families' small presets with random weights, which is enough for speed,
plus any ``--checkpoint``) and each batch size, :func:`cadenza.generation.generate` continues a
primer taken from the opening of a real piece (``../shared/data/piano-midi.de`` beside the
project; a synthetic piece when it is absent) for a fixed length: 128 steps (8 bars of 16th
notes) for the biaxial and piano-roll models, 256 messages for the attention LSTM, 128 tokens
for the token LSTM. The wall time covers the whole ``generate`` call (primer included), after
one short untimed warm-up call; the process CPU time of the same call is shown beside it
(on a busy machine it tells how fast the run would have been with the CPU to itself).

Seconds of music: each generated array is decoded with the model's representation (decoded
scores are at 120 qpm) and only its generated part is counted, from the onset of the first
generated element (``representation.onset_tick(array, primer_length)``) to the later of the
last decoded note's end and the end of the generated grid/messages/tokens
(``onset_tick(array, len(array))``), converted with the decoded score's tempo map. The
real-time factor is the music of all pieces of the batch over the wall time (so at batch 8 it
is 8 x the mean seconds per piece / wall seconds). How much time a message or token spans is
up to the model (random weights pick long deltas and shifts), so a second factor counts each
generated element at the primer piece's own seconds per element (the same for grid models).

Target: ``biaxial-small`` at >= 50x real time at batch 1 and faster still at batch 8.
``--profile`` adds a cProfile listing of one biaxial-small batch-1 run.

Usage: ``python benchmarks/generate_speed.py [--models P ...] [--checkpoint RUN_OR_CKPT ...]
[--batches 1 8] [--threads N] [--json OUT] [--profile] [--quick]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _machine import (
    PIANO_MIDI,
    describe_machine,
    fitted_representation,
    format_load,
    load_average,
    synthetic_score,
)
from rich.console import Console
from rich.table import Table

from cadenza.checkpoint import load_checkpoint
from cadenza.errors import MidiError
from cadenza.generation import GenerationConfig, generate
from cadenza.generation.primers import default_primer_length, first_sounding_index
from cadenza.midi import ReadOptions, load_piece
from cadenza.models.base import SequenceModel
from cadenza.models.registry import build_model, fit_config, get_preset
from cadenza.representations.base import Representation
from cadenza.score import Score, ticks_to_seconds

MODELS = ("biaxial-small", "pianoroll-small", "events-small", "notetokens-small")
QUICK_MODELS = ("biaxial-debug", "pianoroll-debug", "events-debug", "notetokens-debug")
BATCHES = (1, 8)
LENGTHS = {"biaxial": 128, "pianoroll": 128, "events": 256, "notetokens": 128}
UNITS = {"biaxial": "steps", "pianoroll": "steps", "events": "messages", "notetokens": "tokens"}
PRIMER_PIECE = "Mozart/mz_545_1.mid"
TARGET_MODEL = "biaxial-small"
TARGET_RTF = 50.0

console = Console(width=150)


@dataclass
class Result:
    """Speed of one model at one batch size."""

    model: str
    family: str
    batch: int
    length: int
    unit: str
    primer_length: int
    wall_seconds: list[float]
    cpu_seconds: list[float]  # process CPU time of the same runs (all threads)
    music_seconds: float  # all pieces of the batch together
    notes_per_piece: float
    piece_seconds_per_element: float  # music per element of the primer's whole piece

    @property
    def rtf_at_piece_density(self) -> float:
        """Real-time factor if the output had the primer piece's seconds per element."""
        return self.batch * self.length * self.piece_seconds_per_element / self.median_wall

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall_seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_seconds)

    @property
    def ms_per_element(self) -> float:
        return 1000.0 * self.median_wall / (self.primer_length + self.length)

    @property
    def rtf(self) -> float:
        return self.music_seconds / self.median_wall

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["median_wall_seconds"] = self.median_wall
        out["ms_per_element"] = self.ms_per_element
        out["real_time_factor"] = self.rtf
        out["real_time_factor_at_piece_density"] = self.rtf_at_piece_density
        return out


# -- models, primers and music seconds ---------------------------------------------------------
@dataclass
class Subject:
    """A model to time, its representation and where it came from."""

    label: str
    model: SequenceModel
    representation: Representation
    source: str


def random_model(preset: str, corpus_files: int | None, seed: int) -> Subject:
    family = get_preset(preset).family
    representation, note = fitted_representation(family, corpus_files)
    torch.manual_seed(seed)
    model = build_model(fit_config(get_preset(preset), representation))
    source = "random weights" + (f", vocabulary {note}" if note else "")
    return Subject(preset, model, representation, source)


def checkpoint_model(path: str) -> Subject:
    loaded = load_checkpoint(path)
    label = f"{loaded.preset or loaded.model.family}@{loaded.step}"
    return Subject(label, loaded.model, loaded.representation, f"checkpoint {loaded.path}")


def primer_piece(representation: Representation, piece: Path | None) -> tuple[Score, str]:
    """The piece primers come from, at the representation's grid, and its name."""
    spq = representation.config.steps_per_quarter
    path = piece if piece is not None else PIANO_MIDI / PRIMER_PIECE
    if path.is_file():
        try:
            score, _ = load_piece(path, ReadOptions(steps_per_quarter=spq, time_signatures=None))
            return score, path.name
        except MidiError:
            pass
    return synthetic_score(steps_per_quarter=spq, seed=100), "synthetic"


@dataclass
class Primer:
    """A primer, the piece it opens and that piece's seconds of music per encoded element."""

    array: np.ndarray
    piece: str
    seconds_per_element: float


def make_primer(subject: Subject, piece: Path | None) -> Primer:
    """The opening of the primer piece (after leading silence), the preset's primer length."""
    score, name = primer_piece(subject.representation, piece)
    array = subject.representation.encode(score)
    start = first_sounding_index(array)
    length = default_primer_length(subject.model, subject.representation)
    seconds, _ = generated_seconds(subject.representation, array, 0)
    return Primer(np.ascontiguousarray(array[start : start + length]), name,
                  seconds / max(len(array), 1))


def generated_seconds(representation: Representation, array: np.ndarray, primer_length: int
                      ) -> tuple[float, int]:
    """Seconds of music after the primer in ``array``, and the notes starting there."""
    score = representation.decode(array)
    start = representation.onset_tick(array, primer_length)
    end = max(score.end_tick, representation.onset_tick(array, len(array)))
    tpq, tempos = score.ticks_per_quarter, score.tempos
    seconds = ticks_to_seconds(end, tpq, tempos) - ticks_to_seconds(start, tpq, tempos)
    return max(0.0, seconds), int(np.count_nonzero(score.notes["start"] >= start))


def measure(subject: Subject, primer_info: Primer, batch: int, length: int, repeats: int,
            seed: int) -> Result:
    family = subject.model.family
    rep = subject.representation
    primer = primer_info.array
    generate(subject.model, rep, primer, GenerationConfig(length=4, count=batch, seed=seed))
    config = GenerationConfig(length=length, count=batch, seed=seed)
    walls, cpus = [], []
    result = None
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = generate(subject.model, rep, primer, config)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu_start)
    assert result is not None
    music = [generated_seconds(rep, a, result.primer_length) for a in result.arrays]
    return Result(
        model=subject.label,
        family=family,
        batch=batch,
        length=length,
        unit=UNITS[family],
        primer_length=result.primer_length,
        wall_seconds=walls,
        cpu_seconds=cpus,
        music_seconds=sum(seconds for seconds, _ in music),
        notes_per_piece=float(np.mean([notes for _, notes in music])),
        piece_seconds_per_element=primer_info.seconds_per_element,
    )


def profile_generation(subject: Subject, primer: np.ndarray, length: int, top: int = 25) -> str:
    """cProfile listing (by own time) of one batch-1 generation of ``subject``."""
    config = GenerationConfig(length=length, count=1, seed=0)
    profiler = cProfile.Profile()
    profiler.enable()
    generate(subject.model, subject.representation, primer, config)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# -- report ------------------------------------------------------------------------------------
def results_table(results: list[Result]) -> Table:
    table = Table(title="Generation speed (seconds of music per second of wall time)")
    for column in ("model", "batch", "generated", "primer", "wall s", "CPU s", "ms/element",
                   "music s/piece", "notes/piece", "x real time", "x RT, piece density"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in results:
        table.add_row(
            r.model,
            str(r.batch),
            f"{r.length} {r.unit}",
            str(r.primer_length),
            f"{r.median_wall:.2f}",
            f"{r.median_cpu:.2f}",
            f"{r.ms_per_element:.2f}",
            f"{r.music_seconds / r.batch:.1f}",
            f"{r.notes_per_piece:.0f}",
            f"{r.rtf:.1f}",
            f"{r.rtf_at_piece_density:.1f}",
        )
    return table


def target_verdict(results: list[Result]) -> tuple[str, bool | None]:
    """PASS/FAIL for biaxial-small: >= 50x real time at batch 1 and faster at batch 8."""
    by_batch = {r.batch: r.rtf for r in results if r.model == TARGET_MODEL}
    if 1 not in by_batch:
        return f"target not measured: {TARGET_MODEL} at batch 1 was not run", None
    single = by_batch[1]
    ok = single >= TARGET_RTF
    text = f"{TARGET_MODEL}: {single:.1f}x real time at batch 1 (target >= {TARGET_RTF:.0f}x)"
    if 8 in by_batch:
        ok = ok and by_batch[8] > single
        text += f", {by_batch[8]:.1f}x at batch 8 (target: more than at batch 1)"
    return ("PASS: " if ok else "FAIL: ") + text, ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--models", nargs="+", default=None,
                        help=f"presets with random weights (default: {' '.join(MODELS)})")
    parser.add_argument("--checkpoint", action="append", default=[],
                        help="also time this checkpoint or run folder (repeatable)")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--steps", type=int, default=None,
                        help="override every family's generated length")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs (median kept)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--primer-piece", type=Path, default=None,
                        help=f"MIDI file the primers come from (default {PRIMER_PIECE})")
    parser.add_argument("--vocab-files", type=int, default=None,
                        help="corpus files read to fit the events/token vocabularies "
                             "(default all, 0 = synthetic pieces only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true",
                        help=f"print a cProfile listing of one {TARGET_MODEL} batch-1 run")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT")
    parser.add_argument("--quick", action="store_true",
                        help="debug presets, 16 elements, batches 1 and 2: a check that it runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.models = args.models or list(QUICK_MODELS)
        args.steps = args.steps or 16
        args.batches = [1, 2]
        args.vocab_files = 0
    args.models = list(MODELS) if args.models is None else args.models
    if any(b < 1 for b in args.batches) or args.repeats < 1:
        parser.error("batch sizes and --repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = describe_machine(256 if args.quick else 2048, 0.2 if args.quick else 1.5)
    load_before = load_average()
    console.print(machine.line())

    subjects = [random_model(name, args.vocab_files, args.seed) for name in args.models]
    subjects += [checkpoint_model(path) for path in args.checkpoint]
    results: list[Result] = []
    sources: list[str] = []
    profile = ""
    for subject in subjects:
        subject.model.eval()
        primer = make_primer(subject, args.primer_piece)
        length = args.steps or LENGTHS[subject.model.family]
        sources.append(f"{subject.label}: {subject.source}; primer {len(primer.array)} "
                       f"{UNITS[subject.model.family]} of {primer.piece} "
                       f"({primer.seconds_per_element:.3f} s of music per element over the piece)")
        for batch in args.batches:
            console.print(f"generating with {subject.label} at batch {batch} ...", style="dim")
            results.append(measure(subject, primer, batch, length, args.repeats, args.seed))
        if args.profile and subject.label == TARGET_MODEL:
            profile = profile_generation(subject, primer.array, length)
    load_after = load_average()

    console.print(results_table(results))
    console.print(machine.line())
    console.print(f"before: {format_load(load_before)}; after: {format_load(load_after)}")
    console.print("wall s: the whole generate() call, primer included (x real time and ms/element "
                  "use it); CPU s: process CPU time of the same call, all threads (close to the "
                  "wall time on an idle machine with 1 thread); x RT, piece density: elements "
                  "generated x the primer piece's seconds per element / wall s (the time a random "
                  "model's messages and tokens span says little)")
    for line in sources:
        console.print(line)
    verdict, ok = target_verdict(results)
    console.print(verdict, style="bold green" if ok else "bold red" if ok is False else "")
    if profile:
        console.print(f"cProfile of one {TARGET_MODEL} batch-1 run, by own time:")
        console.print(profile, markup=False, highlight=False)

    if args.json is not None:
        payload = {
            "benchmark": "generate_speed",
            "machine": machine.to_dict(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "settings": {"batches": args.batches, "repeats": args.repeats,
                         "threads": torch.get_num_threads()},
            "models": sources,
            "results": [r.to_dict() for r in results],
            "target": {"model": TARGET_MODEL, "real_time_factor": TARGET_RTF, "passed": ok,
                       "verdict": verdict},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
