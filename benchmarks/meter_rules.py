"""Which metre rule makes the better model: cadenza's 4/4 sections or the original's rule.

Two ``biaxial-small`` models are trained for the same number of updates on the same folder,
one on the pieces the ``4/4`` rule keeps (4/4 sections; music on either side of a removed
section is never joined), one on what ``original`` keeps (numerator 2 or 4, up to the first
other signature). Both are then scored with the likelihood protocol (play NLL per step,
cadenza.likelihood) on the same held-out pieces: the valid + generation splits of each rule's
corpus. The split hashes each file's path, so a held-out file of either rule is held out in
both, and neither model saw any of them.

Usage: ``python benchmarks/meter_rules.py [DATA_DIR] [--steps 600] [--threads 1]
[--out RUNS]``; DATA_DIR defaults to piano-midi.de beside the project. (Equal updates, not
equal time, so that other work on the machine cannot favour one rule.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from cadenza.checkpoint import load_checkpoint
from cadenza.data.corpus import CorpusConfig
from cadenza.experiment import prepare_experiment
from cadenza.likelihood import evaluate_likelihood
from cadenza.machine import cpu_model
from cadenza.midi import ReadOptions
from cadenza.training import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "piano-midi.de" / "midis"
RULES = ("4/4", "original")
HELD_OUT = ("valid", "generation")

console = Console(width=140)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--preset", default="biaxial-small")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/meter-rules"))
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        console.print(f"[red]no data folder at {args.data}[/]")
        return 2
    torch.set_num_threads(args.threads)
    experiments = {}
    runs = {}
    for rule in RULES:
        config = CorpusConfig(meters=ReadOptions.parse_meters(rule))
        experiments[rule] = prepare_experiment(args.preset, args.data, corpus_config=config,
                                               progress=False, seed=args.seed)
    for rule, experiment in experiments.items():
        run = args.out / f"{rule.replace('/', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
        train = TrainConfig(steps=args.steps, eval_every=100, checkpoint_every=100,
                            sample_every=0, log_every=100, seed=args.seed, keep_checkpoints=1)
        summary = Trainer(experiment.model, experiment.representation, experiment.train_batches,
                          experiment.valid_batches, train, run,
                          experiment.run_info(train.to_dict()), print_fn=console.print).fit()
        runs[rule] = (run, summary)
    table = Table(title=f"{args.preset}, {args.steps} updates each on {args.threads} thread(s): "
                        "held-out play NLL per step (nats, lower is better)")
    table.add_column("trained on")
    table.add_column("train pieces / steps")
    table.add_column("updates")
    for rule in RULES:
        table.add_column(f"held out of '{rule}' ({_count(experiments[rule])} pieces)")
    report = []
    for rule, (run, summary) in runs.items():
        best = load_checkpoint(run)
        corpus = experiments[rule].corpus
        train_steps = int(sum(len(a) for a in corpus.arrays("train")))
        row = {"rule": rule, "train_pieces": len(corpus.split("train")),
               "train_steps": train_steps, "updates": summary.steps_done,
               "best_step": best.step}
        cells = []
        for other in RULES:
            arrays = [a for s in HELD_OUT for a in experiments[other].corpus.arrays(s)]
            result = evaluate_likelihood(best.model, best.representation, arrays)
            row[f"nll_held_out_{other}"] = result.nll_per_step
            cells.append(f"{result.nll_per_step:.3f}")
        report.append(row)
        table.add_row(rule, f"{row['train_pieces']} / {train_steps:,}", str(summary.steps_done),
                      *cells)
    console.print(table)
    console.print(f"machine: {cpu_model()}; torch threads {torch.get_num_threads()}; "
                  f"{time.strftime('%Y-%m-%d %H:%M')}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "meter_rules.json").write_text(json.dumps(report, indent=1))
    return 0


def _count(experiment: object) -> int:
    corpus = experiment.corpus  # type: ignore[attr-defined]
    return int(np.sum([len(corpus.split(s)) for s in HELD_OUT]))


if __name__ == "__main__":
    sys.exit(main())
