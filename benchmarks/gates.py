"""The music gates: does a model's default output look like real pieces it never learned from?

For each ``--model`` (a shipped name or a run folder; ``LABEL=MODEL`` names it) the script
composes ``--pieces`` (32) pieces of ``--bars`` (16) bars with the default settings in each
seed block of ``--blocks`` (1000, 2000, 3000: seeds ``block .. block + pieces - 1``, blocks
on which no setting was chosen; ``--set key=value`` changes a composing option, e.g. ``--set
threshold=0.01``), scores their generated parts with ``cadenza evaluate`` against the
reference and checks the gates per block:

* notes per bar and polyphony within 15% of the real pieces';
* dissonance rate at most 1.3 times the real pieces';
* empty-beat rate no higher than the real pieces';
* velocity spread within 25% of the real pieces';
* mean overlapping area (generated side, Yang & Lerch) at least 0.8, over the metrics that
  vary: a metric constant in both sets (``qualified_note_rate`` is 1 by construction on a
  16th grid) is left out and named.

The reference is the **test split** of ``--data`` (default ``../shared/data/piano-midi.de/
midis``), which no checkpoint, temperature or setting was ever chosen on, cut into the
``--bars``-bar windows that ``benchmarks/realism.py`` judges (non-overlapping, on bar lines,
sounding at least half their steps; written once under ``OUT/reference-test-16bars``), so
that 16 generated bars are compared with 16 real ones: a metric that grows with a piece's
length (the longest silence, the pitches used, the compression ratio) would otherwise set
16 bars against whole pieces. ``--whole-pieces`` compares with the whole pieces instead (the
reference before 2026-12-07); ``--split valid`` judges against the valid split, to choose
settings on; ``--reference DIR`` names another folder. ``--composed DIR`` scores the pieces
``benchmarks/realism.py --out DIR`` composed (``DIR/LABEL/block-SEED``) instead of composing
them again.

It prints one Markdown table per block (real value, each model's value and PASS/FAIL) and
writes ``gates.json`` under ``--out``. Exit status 0 either way: the tables are the result.

Usage: ``python benchmarks/gates.py --model biaxial-piano [--model pianoroll=pianoroll-piano
--set pianoroll:threshold=0.01] [--blocks 1000,2000,3000] [--pieces 32] [--bars 16]
[--split valid] [--whole-pieces] [--composed OUT_OF_REALISM]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _machine import cpu_model, usable_cores
from _pieces import (
    PIANO_MIDI,
    compose_pieces,
    evaluate,
    held_out_corpus,
    primers_in_reference,
    write_windows,
)


@dataclass(frozen=True)
class Gate:
    """A test of one metric's generated mean against the real pieces' mean."""

    metric: str
    rule: str  # "within", "at_most_times", "at_most"
    bound: float

    def text(self) -> str:
        if self.rule == "within":
            return f"{self.metric} within {self.bound:.0%} of real"
        if self.rule == "at_most_times":
            return f"{self.metric} <= {self.bound:g} x real"
        return f"{self.metric} <= real"

    def passes(self, generated: float, real: float) -> bool:
        if self.rule == "within":
            return abs(generated - real) <= self.bound * abs(real)
        if self.rule == "at_most_times":
            return generated <= self.bound * real
        return generated <= real


GATES = (
    Gate("notes_per_bar", "within", 0.15),
    Gate("polyphony", "within", 0.15),
    Gate("dissonance_rate", "at_most_times", 1.3),
    Gate("empty_beat_rate", "at_most", 0.0),
    Gate("velocity_spread", "within", 0.25),
)
MIN_OVERLAP = 0.8


def parse_option(text: str) -> tuple[str | None, str, Any]:
    """``[LABEL:]key=value`` with value read as JSON when it parses (numbers, booleans)."""
    label = None
    if ":" in text.split("=", 1)[0]:
        label, text = text.split(":", 1)
    key, _, raw = text.partition("=")
    if not key or not _:
        raise SystemExit(f"--set {text!r}: expected key=value")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return label, key, value


def constant_metrics(metrics: dict[str, Any]) -> list[str]:
    """The metrics with no spread in either set (e.g. a rate that is 1 by construction):
    their overlap says nothing about the model."""
    return sorted(name for name, entry in metrics.items()
                  if float(entry["generated"].get("std") or 0.0) == 0.0
                  and float(entry["reference"].get("std") or 0.0) == 0.0
                  and entry["generated"].get("mean") == entry["reference"].get("mean"))


def gate_rows(metrics: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Each gate's row (generated, real, text, pass) from ``cadenza evaluate``'s comparison
    metrics, the mean-overlap gate over the metrics that vary, and the constant ones left
    out."""
    rows: dict[str, Any] = {}
    for gate in GATES:
        entry = metrics[gate.metric]
        generated, real = float(entry["generated"]["mean"]), float(entry["reference"]["mean"])
        rows[gate.metric] = {"generated": generated, "real": real, "gate": gate.text(),
                             "pass": gate.passes(generated, real)}
    constant = constant_metrics(metrics)
    overlaps = [float(e["overlap_area"]["generated"]) for name, e in metrics.items()
                if e["overlap_area"]["generated"] is not None and name not in constant]
    overlap = statistics.mean(overlaps)
    rows["mean_overlap_generated"] = {"generated": overlap, "real": None,
                                      "gate": f"mean overlap >= {MIN_OVERLAP}",
                                      "pass": overlap >= MIN_OVERLAP}
    return rows, constant


def judge(label: str, model: str, options: dict[str, Any], seed: int,
          args: argparse.Namespace) -> dict[str, Any]:
    folder = composed_folder(label, seed, args)
    started = time.perf_counter()
    shared = primers_in_reference(model, args.reference)
    if shared:
        print(f"warning: {label}: {len(shared)} of its primers are pieces of {args.reference} "
              f"({', '.join(shared[:3])}...): its pieces are scored against what primed them",
              file=sys.stderr)
    # pieces realism.py composed were not timed here: no seconds or note counts for them
    timed = None if args.composed else compose_pieces(model, folder, args.pieces, args.bars,
                                                      seed, options)
    rows, constant = gate_rows(evaluate(folder, args.reference)["comparison"]["metrics"])
    return {"model": model, "options": options, "seed": seed, "rows": rows,
            "passed": sum(r["pass"] for r in rows.values()), "gates": len(rows),
            "constant_metrics_left_out": constant, "primers_in_reference": shared,
            "seconds_per_piece": statistics.median(timed[0]) if timed else None,
            "notes_per_piece": statistics.mean(timed[1]) if timed else None,
            "minutes": (time.perf_counter() - started) / 60}


def split_reference(data: Path, split: str, bars: int, out: Path) -> Path:
    """One split's real music of ``data`` (4/4-like metres, as the biaxial and piano-roll
    families read them) written once under ``out``: its ``bars``-bar windows as
    ``benchmarks/realism.py`` takes them, or its whole pieces when ``bars`` is 0."""
    import shutil

    if out.is_dir() and any(out.iterdir()):
        return out
    pieces = held_out_corpus(data).split(split)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if bars:
        write_windows(pieces, bars, tmp)
    else:
        for piece in pieces:
            shutil.copyfile(data / piece.path, tmp / piece.path.replace("/", "-"))
    tmp.rename(out)
    return out


def composed_folder(label: str, seed: int, args: argparse.Namespace) -> Path:
    """Where the block's pieces are: composed now under ``--out``, or already by
    ``benchmarks/realism.py`` under ``--composed`` (``LABEL/block-SEED``)."""
    if args.composed is None:
        return Path(args.out) / f"{label}-{seed}"
    folder = Path(args.composed) / label / f"block-{seed}"
    found = len(list(folder.glob("seed-*.mid")))
    if found != args.pieces:
        raise SystemExit(f"--composed {folder}: expected {args.pieces} pieces seed-*.mid, "
                         f"found {found}")
    return folder


def table(results: dict[str, dict[str, Any]]) -> str:
    labels = list(results)
    lines = ["| gate | real | " + " | ".join(labels) + " |",
             "| --- | --- | " + " | ".join("---" for _ in labels) + " |"]
    first = next(iter(results.values()))["rows"]
    for metric, row in first.items():
        real = "-" if row["real"] is None else f"{row['real']:.3g}"
        cells = []
        for label in labels:
            entry = results[label]["rows"][metric]
            cells.append(f"{entry['generated']:.3g} {'PASS' if entry['pass'] else 'FAIL'}")
        lines.append(f"| {row['gate']} | {real} | " + " | ".join(cells) + " |")
    lines.append("| gates passed | | " + " | ".join(
        f"{results[label]['passed']} of {results[label]['gates']}" for label in labels) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", action="append", required=True,
                        help="[LABEL=]shipped name or run folder (repeat)")
    parser.add_argument("--data", type=Path, default=PIANO_MIDI,
                        help="the MIDI folder whose test split is the reference")
    parser.add_argument("--split", choices=("test", "valid"), default="test",
                        help="the split of --data to judge against (valid: to choose settings)")
    parser.add_argument("--whole-pieces", action="store_true",
                        help="judge against the split's whole pieces, not its --bars windows")
    parser.add_argument("--reference", type=Path, help="another held-out MIDI folder")
    parser.add_argument("--composed", type=Path,
                        help="score the pieces benchmarks/realism.py composed under this --out "
                             "(LABEL/block-SEED) instead of composing")
    parser.add_argument("--pieces", type=int, default=32)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--blocks", default="1000,2000,3000", help="first seed of each block")
    parser.add_argument("--set", action="append", default=[],
                        help="[LABEL:]option=value for composing (repeat)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("out/gates"))
    args = parser.parse_args(argv)
    try:
        blocks = [int(b) for b in args.blocks.split(",")]
    except ValueError:
        parser.error(f"--blocks {args.blocks!r}: expected first seeds such as 1000,2000,3000")
    if args.reference is None:
        if not args.data.is_dir():
            parser.error(f"--data {args.data}: no such folder (or give --reference)")
        windows = 0 if args.whole_pieces else args.bars
        args.reference = split_reference(
            args.data, args.split, windows,
            args.out / f"reference-{args.split}{f'-{windows}bars' if windows else ''}")
    elif not args.reference.is_dir():
        parser.error(f"--reference {args.reference}: no such folder")
    import torch

    torch.set_num_threads(args.threads)
    models = [m.split("=", 1) if "=" in m else [Path(m).name, m] for m in args.model]
    sets = [parse_option(text) for text in args.set]
    results: dict[str, dict[str, Any]] = {}
    for first in blocks:
        block: dict[str, Any] = {}
        for label, model in models:
            options = {key: value for who, key, value in sets if who in (None, label)}
            block[label] = judge(label, model, options, first, args)
            print(f"{label} seeds {first}..: {block[label]['passed']} of "
                  f"{block[label]['gates']} gates, {block[label]['minutes']:.1f} min",
                  file=sys.stderr)
        results[str(first)] = block
    report = {"machine": f"{cpu_model()}, {usable_cores()} usable cores",
              "date": time.strftime("%Y-%m-%d"), "pieces": args.pieces, "bars": args.bars,
              "blocks": blocks, "reference": str(args.reference), "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gates.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.pieces} pieces x {args.bars} bars per model and block, against "
          f"{args.reference}; {report['machine']}")
    for seed, block in results.items():
        left_out = sorted({m for r in block.values() for m in r["constant_metrics_left_out"]})
        print(f"\n### seeds {seed}..{int(seed) + args.pieces - 1}"
              f" (constant metrics left out of the overlap: {', '.join(left_out) or 'none'})\n")
        print(table(block))
    return 0


if __name__ == "__main__":
    sys.exit(main())
