"""The music gates: does a model's default output look like the real pieces it learned?

For each ``--model`` (a shipped name or a run folder; ``LABEL=MODEL`` names it) the script
composes ``--pieces`` (32) pieces of ``--bars`` (16) bars with the default settings, one seed
each (``--set key=value`` changes a composing option, e.g. ``--set threshold=0.01``), scores
their generated parts with ``cadenza evaluate`` against ``--reference`` (a folder of held-out
MIDI files: ``python scripts/export_split.py piano-midi.de/midis HELD_OUT --splits
valid,generation``) and checks the gates:

* notes per bar and polyphony within 15% of the real pieces';
* dissonance rate at most 1.3 times the real pieces';
* empty-beat rate no higher than the real pieces';
* velocity spread within 25% of the real pieces';
* mean overlapping area (generated side, Yang & Lerch) at least 0.8.

It prints one Markdown table (real value, each model's value and PASS/FAIL) and writes
``gates.json`` under ``--out``. Exit status 0 either way: the table is the result.

Usage: ``python benchmarks/gates.py --model biaxial-piano --reference HELD_OUT
[--model pianoroll=pianoroll-piano --set pianoroll:threshold=0.01] [--pieces 32] [--bars 16]``
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
from _pieces import compose_pieces, evaluate, primers_in_reference


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


def judge(label: str, model: str, options: dict[str, Any], args: argparse.Namespace
          ) -> dict[str, Any]:
    folder = args.out / label
    started = time.perf_counter()
    shared = primers_in_reference(model, args.reference)
    if shared:
        print(f"warning: {label}: {len(shared)} of its primers are pieces of {args.reference} "
              f"({', '.join(shared[:3])}...): its pieces are scored against what primed them",
              file=sys.stderr)
    seconds, notes = compose_pieces(model, folder, args.pieces, args.bars, args.seed, options)
    result = evaluate(folder, args.reference)["comparison"]["metrics"]
    rows: dict[str, Any] = {}
    for gate in GATES:
        entry = result[gate.metric]
        generated, real = float(entry["generated"]["mean"]), float(entry["reference"]["mean"])
        rows[gate.metric] = {"generated": generated, "real": real, "gate": gate.text(),
                             "pass": gate.passes(generated, real)}
    overlaps = [float(e["overlap_area"]["generated"]) for e in result.values()
                if e["overlap_area"]["generated"] is not None]
    overlap = statistics.mean(overlaps)
    rows["mean_overlap_generated"] = {"generated": overlap, "real": None,
                                      "gate": f"mean overlap >= {MIN_OVERLAP}",
                                      "pass": overlap >= MIN_OVERLAP}
    return {"model": model, "options": options, "rows": rows,
            "passed": sum(r["pass"] for r in rows.values()), "gates": len(rows),
            "primers_in_reference": shared,
            "seconds_per_piece": statistics.median(seconds),
            "notes_per_piece": statistics.mean(notes),
            "minutes": (time.perf_counter() - started) / 60}


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True,
                        help="[LABEL=]shipped name or run folder (repeat)")
    parser.add_argument("--reference", type=Path, required=True, help="held-out MIDI folder")
    parser.add_argument("--pieces", type=int, default=32)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[],
                        help="[LABEL:]option=value for composing (repeat)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("out/gates"))
    args = parser.parse_args(argv)
    if not args.reference.is_dir():
        parser.error(f"--reference {args.reference}: no such folder")
    import torch

    torch.set_num_threads(args.threads)
    models = [m.split("=", 1) if "=" in m else [Path(m).name, m] for m in args.model]
    sets = [parse_option(text) for text in args.set]
    results = {}
    for label, model in models:
        options = {key: value for who, key, value in sets if who in (None, label)}
        results[label] = judge(label, model, options, args)
        print(f"{label}: {results[label]['passed']} of {results[label]['gates']} gates, "
              f"{results[label]['minutes']:.1f} min", file=sys.stderr)
    report = {"machine": f"{cpu_model()}, {usable_cores()} usable cores",
              "date": time.strftime("%Y-%m-%d"),
              "pieces": args.pieces, "bars": args.bars, "seed": args.seed,
              "reference": str(args.reference), "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gates.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.pieces} pieces x {args.bars} bars per model, seeds {args.seed}.., against "
          f"{args.reference}; {report['machine']}\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
