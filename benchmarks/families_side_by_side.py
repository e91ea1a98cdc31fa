"""The families side by side: validation loss, composing speed and held-out metrics.

Usage::

    python benchmarks/families_side_by_side.py --reference HELD_OUT_DIR \\
        --model biaxial=RUN_A --model pianoroll=RUN_B --model transformer=RUN_C \\
        [--pieces 16] [--bars 16] [--seed 0] [--threads 1] [--out out/side-by-side]

Each ``--model LABEL=PATH`` is a run folder (or a checkpoint or a shipped model name). For
every model the script

1. reads the run's ``log.csv``: the best validation loss, at which step and after how many
   seconds of training, in the family's own unit (the loss the trainer minimises; the grid
   families also log ``nll_per_step``, nats per time step over all keys; the token families
   log nats per token);
2. composes ``--pieces`` pieces of ``--bars`` bars one at a time (batch 1, the way a person
   composes one piece), each primed as ``cadenza generate`` primes by default, and times each
   call after a warm-up (model loading and the primer bank are not counted);
3. runs ``cadenza evaluate`` on the generated parts against ``--reference`` (the held-out
   pieces: ``python scripts/export_split.py DATA HELD_OUT_DIR``) and keeps the headline
   metrics and the mean overlap area on both sides (Yang & Lerch 2018; 1 = the sets cannot be
   told apart).

It prints one comparison table (and writes it as ``summary.json`` in ``--out``). Losses in
different units are not comparable across families; the held-out metrics and the speed are.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _machine import describe_machine
from _pieces import compose_pieces, evaluate

HEADLINE = ("notes_per_bar", "polyphony", "dissonance_rate", "empty_beat_rate",
            "velocity_spread", "scale_consistency", "repeated_bar_rate", "compression_ratio")


@dataclass
class Row:
    """What one model measured."""

    label: str
    model: str
    family: str = ""
    parameters: int = 0
    valid_loss: float | None = None
    valid_nll_per_step: float | None = None
    valid_step: int | None = None
    seconds_per_piece: float | None = None
    notes_per_piece: float | None = None
    overlap_generated: float | None = None
    overlap_reference: float | None = None
    metrics: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


def best_valid(run: Path) -> dict[str, Any]:
    """The validation row with the lowest loss in ``run/log.csv`` (empty when there is none)."""
    log = run / "log.csv"
    if not log.is_file():
        return {}
    best: dict[str, Any] = {}
    with log.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("split") != "valid":
                continue
            loss = float(row["loss"])
            if not best or loss < best["loss"]:
                metrics = dict(item.split("=", 1) for item in (row.get("metrics") or "").split(";")
                               if "=" in item)
                nll = metrics.get("nll_per_step")
                best = {"loss": loss, "step": int(row["step"]),
                        "nll_per_step": float(nll) if nll is not None else None}
    return best


def measure(label: str, model: str, args: argparse.Namespace) -> Row:
    import cadenza

    loaded = cadenza.load(model)
    row = Row(label, model, family=str(loaded.info.get("family", "")),
              parameters=sum(p.numel() for p in loaded.model.parameters()))
    run = Path(model)
    valid = best_valid(run) if run.is_dir() else {}
    if valid:
        row.valid_loss, row.valid_step = valid["loss"], valid["step"]
        row.valid_nll_per_step = valid["nll_per_step"]
    folder = args.out / label
    options = {"temperature": args.temperature}
    seconds, notes = compose_pieces(model, folder, args.pieces, args.bars, args.seed, options)
    row.seconds_per_piece = statistics.median(seconds)
    row.notes_per_piece = statistics.mean(notes)
    result = evaluate(folder, args.reference)
    comparison = result["comparison"]["metrics"]
    sides: dict[str, list[float]] = {"generated": [], "reference": []}
    for name, entry in comparison.items():
        for side in sides:
            value = entry["overlap_area"][side]
            if value is not None:
                sides[side].append(float(value))
        if name in HEADLINE:
            row.metrics[name] = (entry["generated"]["mean"], entry["reference"]["mean"])
    row.overlap_generated = statistics.mean(sides["generated"]) if sides["generated"] else None
    row.overlap_reference = statistics.mean(sides["reference"]) if sides["reference"] else None
    return row


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"


def table(rows: list[Row]) -> str:
    """A Markdown table: one column per model, real pieces in the last column."""
    header = ["", *(row.label for row in rows), "held-out pieces"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def add(name: str, values: list[str], real: str = "") -> None:
        lines.append("| " + " | ".join([name, *values, real]) + " |")

    add("family", [row.family for row in rows])
    add("parameters", [f"{row.parameters:,}" for row in rows])
    add("best valid loss (own unit)", [_fmt(row.valid_loss, 4) for row in rows])
    add("valid NLL per step (grid)", [_fmt(row.valid_nll_per_step, 4) for row in rows])
    add("best valid at step", [str(row.valid_step) if row.valid_step is not None else "-"
                               for row in rows])
    add("seconds per piece (median, batch 1)", [_fmt(row.seconds_per_piece) for row in rows])
    add("generated notes per piece", [_fmt(row.notes_per_piece, 4) for row in rows])
    for name in HEADLINE:
        real = next((row.metrics[name][1] for row in rows if name in row.metrics), None)
        add(name, [_fmt(row.metrics.get(name, (None, None))[0]) for row in rows], _fmt(real))
    add("mean overlap, generated side", [_fmt(row.overlap_generated) for row in rows])
    add("mean overlap, reference side", [_fmt(row.overlap_reference) for row in rows])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="LABEL=PATH",
                        help="a run folder, checkpoint or shipped model, with a label")
    parser.add_argument("--reference", type=Path, required=True,
                        help="folder of held-out MIDI files")
    parser.add_argument("--pieces", type=int, default=16)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("out/side-by-side"))
    args = parser.parse_args(argv)
    if not args.reference.is_dir():
        parser.error(f"--reference {args.reference}: not a folder")
    models = []
    for spec in args.model:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            parser.error(f"--model {spec!r}: expected LABEL=PATH")
        models.append((label, path))

    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for label, path in models:
        print(f"measuring {label} ({path}) ...", file=sys.stderr, flush=True)
        rows.append(measure(label, path, args))
    print(f"{describe_machine().line()}; {args.pieces} pieces of {args.bars} bars per model, "
          f"{args.threads} thread(s), temperature {args.temperature}, seeds from {args.seed}\n")
    print(table(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps([asdict(row) for row in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
