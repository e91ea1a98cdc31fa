"""Realism: how often does a simple classifier tell a model's excerpts from real ones?

A classifier two-sample test on data that chose nothing. Real excerpts are 16-bar windows
(4/4 bars of 16 sixteenths, starting on bar lines, not mostly silent) of the pieces of the
**test split** of ``--data``, read with cadenza's corpus pipeline and its 4/4-like metres
(4/4, 2/4, 2/2, 4/8, 8/8). The test split is used for nothing else: never choose a
checkpoint, temperature or setting with this script's numbers on it. To choose settings, run
it with ``--split valid`` (and seed blocks of your own, e.g. ``--blocks 500,600,700``): the
valid split's pieces, which already choose checkpoints.

For each ``--model`` (a shipped name or a run folder; ``LABEL=MODEL`` names it) the script
composes ``--pieces`` (32) pieces of ``--bars`` (16) bars in each seed block of ``--blocks``
(seeds ``block .. block + pieces - 1``) with the model's default settings (``--set
[LABEL:]key=value`` changes a composing option) and keeps only the generated part of each:
its first ``--bars`` bars from its first bar line (a token model, whose primer may end inside
a bar, composes one bar more for it).
Each excerpt becomes key-invariant features (:mod:`cadenza.metrics.realism`: harmony, metre,
density, durations, register, top-voice intervals, repetition, dynamics). Per block, as many
real excerpts (at most ``--per-piece`` of one piece, drawn by a block-seeded generator) as
generated ones are classified by an L2 logistic regression in 5-fold cross-validation whose
folds keep each piece (seed) whole (:mod:`cadenza.metrics.twosample`), once with all
features and once without the dynamics ones (notes only). The real-against-real floor is
the same test between two halves of the real excerpts, split by piece. 0.5 is chance.

It prints the machine, the data split, the seeds and, per model, the accuracy of each block,
their mean and spread beside the floor, the largest differences ("tells") and the features
the classifier leans on; ``realism.json`` and the composed MIDI files go under ``--out``.
A model trained on a split without a test part (cadenza before the test split, such as the
shipped ``biaxial-piano``) learned from the test pieces: the script says so in one line.

Usage: ``python benchmarks/realism.py --model biaxial-piano [--model run=runs/mine]
[--blocks 1000,2000,3000] [--pieces 32] [--set form=none] [--threads 1] [--split valid]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _machine import describe_machine
from _pieces import JUDGED_METERS, PIANO_MIDI, held_out_corpus, piece_windows
from gates import parse_option

from cadenza.metrics import realism, twosample

TUNED_SEEDS = frozenset([*range(0, 32), *range(100, 132)])  # earlier work chose settings on these
TELLS = (  # (label, how to read it from the mean features)
    ("eighth off-beats (mean share of positions 2, 6, 10, 14)", "eighth"),
    ("other off-beat 16ths (mean share of odd positions)", "sixteenth"),
    ("ratio eighth / other off-beats", "ratio"),
    ("downbeat share (position 0)", "metre.position_00"),
    ("note onsets per beat", "density.notes_per_beat"),
    ("literal bar-repeat rate", "repetition.literal_bar_repeats"),
    ("adjacent-bar pitch-class cosine", "harmony.bar_cosine_lag1"),
    ("lag-4 pitch-class cosine", "harmony.bar_cosine_lag4"),
    ("velocity spread (sd)", "dynamics.velocity_sd"),
    ("velocity change from bar to bar", "dynamics.velocity_bar_change"),
    ("top voice's accent (velocity above the mean)", "dynamics.top_voice_accent"),
)


@dataclass
class Excerpts:
    """Feature rows ``(N, F)``, the group (piece or seed) of each and where it came from."""

    x: np.ndarray
    groups: list[str]
    sources: list[str]

    def take(self, rows: Iterable[int]) -> Excerpts:
        index = list(rows)
        return Excerpts(self.x[index], [self.groups[i] for i in index],
                        [self.sources[i] for i in index])


# -- the two sides ---------------------------------------------------------------------------------
def real_excerpts(data: Path, bars: int, min_sounding: float, split_name: str = "test"
                  ) -> tuple[Excerpts, dict[str, Any]]:
    """Every window of one split's pieces (the test split unless tuning on ``valid``), and a
    description of the split."""
    corpus = held_out_corpus(data)
    pieces = corpus.split(split_name)
    steps = bars * realism.STEPS_PER_BAR
    rows, groups, sources = [], [], []
    for piece, start, notes in piece_windows(pieces, bars, min_sounding):
        rows.append(notes)
        groups.append(piece.path)
        sources.append(f"{piece.path}@{start}")
    split = corpus.config.split
    about = {"folder": str(data), "split": split_name, "split_config": split.to_dict(),
             "meters": list(JUDGED_METERS), "pieces": len(pieces),
             "pieces_with_windows": len(set(groups)), "windows": len(rows),
             "bars": bars, "min_sounding": min_sounding,
             "text": (f"{split_name} split of {data} (salt {split.salt}: train "
                      f"{split.train:g} | test {split.test:g} | valid {split.valid:g} | "
                      f"generation {split.generation:g};"
                      f" metres {','.join(JUDGED_METERS)}): {len(pieces)} pieces, "
                      f"{len(set(groups))} with a whole {bars}-bar window, {len(rows)} windows "
                      f"(non-overlapping, on bar lines, sounding >= {min_sounding:.0%})")}
    return Excerpts(realism.feature_matrix(rows, steps), groups, sources), about


def split_warning(label: str, info: dict[str, Any]) -> str | None:
    """One line when the checkpoint's corpus split had no test part: it trained on the test
    pieces (or on some of them)."""
    split = info.get("data", {}).get("corpus", {}).get("split")
    if split is None or float(split.get("test", 0.0)) > 0:
        return None
    return (f"warning: {label} was trained on the split {json.dumps(split, sort_keys=True)}, "
            f"which has no test part: the test pieces were in its training data, so this "
            f"test is not held out for it")


def bar_line_at_or_after(step: int) -> int:
    """The first 4/4 bar line (of 16 sixteenths) at or after ``step``."""
    return -(-step // realism.STEPS_PER_BAR) * realism.STEPS_PER_BAR


def compose_block(loaded: Any, label: str, block: int, args: argparse.Namespace,
                  options: dict[str, Any]) -> tuple[Excerpts, list[float]]:
    """The generated parts of ``args.pieces`` pieces, seeds ``block ..``; seconds per piece."""
    from cadenza.api import compose
    from cadenza.families import get_family
    from cadenza.score import quantise

    steps = args.bars * realism.STEPS_PER_BAR
    folder = args.out / label / f"block-{block}"
    folder.mkdir(parents=True, exist_ok=True)
    # A token model's generated part may start inside a bar (its primer is cut by tokens):
    # it composes one bar more and is judged from its first bar line on.
    grid = get_family(loaded.model.family).grid
    rows, groups, seconds = [], [], []
    for index in range(args.pieces):
        seed = block + index
        started = time.perf_counter()
        piece = compose(loaded, bars=args.bars + (0 if grid else 1), seed=seed, **options)
        seconds.append(time.perf_counter() - started)
        piece.save(folder / f"seed-{seed}.mid", overwrite=True)
        score, start = piece.score, piece.generated_start_tick
        if score.ticks_per_quarter != realism.STEPS_PER_QUARTER:
            start = round(start * realism.STEPS_PER_QUARTER / score.ticks_per_quarter)
            score = quantise(score, realism.STEPS_PER_QUARTER)
        if start % realism.STEPS_PER_BAR and grid:
            print(f"warning: {label} seed {seed}: the generated part starts at step {start}, "
                  f"not on a bar line", file=sys.stderr)
        rows.append(realism.excerpt_notes(score, bar_line_at_or_after(start), steps))
        groups.append(f"seed-{seed}")
        if (index + 1) % 8 == 0 or index + 1 == args.pieces:
            print(f"{label} block {block}: {index + 1}/{args.pieces} pieces, "
                  f"{statistics.median(seconds):.1f} s each", file=sys.stderr)
    return Excerpts(realism.feature_matrix(rows, steps), groups, groups), seconds


# -- drawing and testing -------------------------------------------------------------------------
def draw(real: Excerpts, count: int, per_piece: int, rng: np.random.Generator,
         pieces: set[str] | None = None) -> list[int]:
    """Up to ``count`` real rows in a random order, at most ``per_piece`` of one piece (of
    ``pieces`` only, when given)."""
    taken: dict[str, int] = {}
    chosen: list[int] = []
    for row in rng.permutation(len(real.groups)).tolist():
        group = real.groups[row]
        if (pieces is not None and group not in pieces) or taken.get(group, 0) >= per_piece:
            continue
        taken[group] = taken.get(group, 0) + 1
        chosen.append(row)
        if len(chosen) == count:
            break
    return sorted(chosen)


def two_sample(first: Excerpts, second: Excerpts, masks: dict[str, np.ndarray],
               args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Cross-validated accuracy (label 1 = ``second``) for each column mask."""
    x = np.vstack([first.x, second.x])
    y = np.r_[np.zeros(len(first.groups)), np.ones(len(second.groups))]
    groups = np.array(first.groups + second.groups)
    out: dict[str, Any] = {"sizes": [len(first.groups), len(second.groups)]}
    for name, mask in masks.items():
        result = twosample.cv_accuracy(x[:, mask], y, groups, args.folds, args.l2,
                                       args.cv_repeats, seed)
        out[name] = asdict(result)
    return out


def floor_test(real: Excerpts, count: int, block: int, masks: dict[str, np.ndarray],
               args: argparse.Namespace) -> dict[str, Any]:
    """Real against real: two halves of the pieces (split by a block-seeded draw), as many
    excerpts from each as both can give (at most ``count``)."""
    rng = np.random.default_rng([block, 1])
    pieces = sorted(set(real.groups))
    order = [pieces[i] for i in rng.permutation(len(pieces))]
    halves = [set(order[0::2]), set(order[1::2])]
    size = min(count, *(len(draw(real, count, args.per_piece, rng, h)) for h in halves))
    sides = [real.take(draw(real, size, args.per_piece, rng, h)) for h in halves]
    return two_sample(sides[0], sides[1], masks, args, seed=block)


def tells(real: np.ndarray, generated: np.ndarray, names: list[str]) -> dict[str, list[float]]:
    """Real and generated means of the quantities in :data:`TELLS`."""
    out: dict[str, list[float]] = {}
    for label, key in TELLS:
        pair = []
        for x in (real, generated):
            means = dict(zip(names, x.mean(axis=0).tolist(), strict=True))
            positions = np.array([means[f"metre.position_{k:02d}"] for k in range(16)])
            eighth, sixteenth = realism.offbeat_shares(positions)
            derived = {"eighth": eighth, "sixteenth": sixteenth,
                       "ratio": eighth / sixteenth if sixteenth else float("inf")}
            pair.append(float(derived[key] if key in derived else means[key]))
        out[label] = pair
    return out


def judge(label: str, blocks: dict[int, Excerpts], real: Excerpts, masks: dict[str, np.ndarray],
          names: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Each block's test, the tells and the features the classifier leans on."""
    results: dict[str, Any] = {}
    used_real: set[int] = set()
    weights = []
    for block, generated in blocks.items():
        rows = draw(real, len(generated.groups), args.per_piece, np.random.default_rng([block, 0]))
        used_real.update(rows)
        gen = generated.take(range(len(rows)))  # balanced: as many generated as real
        results[str(block)] = two_sample(real.take(rows), gen, masks, args, seed=block)
        x = np.vstack([real.x[rows], gen.x])[:, masks["all"]]
        y = np.r_[np.zeros(len(rows)), np.ones(len(gen.groups))]
        weights.append(twosample.standardised_weights(x, y, args.l2))
    kept = [n for n, keep in zip(names, masks["all"], strict=True) if keep]
    mean_weights = np.mean(weights, axis=0)
    leaning = sorted(zip(kept, mean_weights.tolist(), strict=True), key=lambda p: -abs(p[1]))
    every_generated = np.vstack([b.x for b in blocks.values()])
    return {"blocks": results,
            "tells": tells(real.x[sorted(used_real)], every_generated, names),
            "strongest_features": leaning[:args.top_features]}


# -- printing ------------------------------------------------------------------------------------
def spread(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def model_table(result: dict[str, Any], floors: dict[str, Any], pieces: int) -> str:
    lines = ["| block | seeds | real / generated | all features | notes only | "
             "floor: real / real | floor: all | floor: notes only |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    columns: dict[str, list[float]] = {"all": [], "notes": [], "floor_all": [], "floor_notes": []}
    for block, entry in result["blocks"].items():
        floor = floors[block]
        values = {"all": entry["all"]["accuracy"], "notes": entry["notes"]["accuracy"],
                  "floor_all": floor["all"]["accuracy"], "floor_notes": floor["notes"]["accuracy"]}
        for key, value in values.items():
            columns[key].append(value)
        first = int(block)
        lines.append(f"| {block} | {first}-{first + pieces - 1} | {entry['sizes'][0]} / "
                     f"{entry['sizes'][1]} | {values['all']:.3f} | {values['notes']:.3f} | "
                     f"{floor['sizes'][0]} / {floor['sizes'][1]} | {values['floor_all']:.3f} | "
                     f"{values['floor_notes']:.3f} |")
    lines.append(f"| mean ± sd over {len(columns['all'])} blocks | | | {spread(columns['all'])} | "
                 f"{spread(columns['notes'])} | | {spread(columns['floor_all'])} | "
                 f"{spread(columns['floor_notes'])} |")
    return "\n".join(lines)


def tells_table(values: dict[str, list[float]]) -> str:
    lines = ["| tell | real | generated |", "| --- | --- | --- |"]
    lines += [f"| {label} | {real:.3f} | {gen:.3f} |" for label, (real, gen) in values.items()]
    return "\n".join(lines)


def report_text(report: dict[str, Any]) -> str:
    settings = report["settings"]
    out = [f"machine: {report['machine_line']}",
           f"data: {report['data']['text']}",
           f"seeds: blocks {', '.join(map(str, settings['blocks']))}, {settings['pieces']} "
           f"pieces each (seeds block .. block + {settings['pieces'] - 1}), {settings['bars']} "
           f"bars; real excerpts per block drawn with the block as seed, at most "
           f"{settings['per_piece']} per piece",
           f"classifier: L2 logistic regression (l2 {settings['l2']:g}) on standardised "
           f"features, {settings['folds']}-fold CV grouped by piece / seed and stratified, mean "
           f"of {settings['cv_repeats']} fold draws; 0.5 is chance",
           f"features: {report['features']['all']} ({report['features']['notes']} notes-only); "
           f"dropped as constant over all {report['features']['excerpts']} excerpts: "
           f"{', '.join(report['features']['dropped']) or 'none'}", ""]
    for label, result in report["models"].items():
        out.append(f"## {label}: {result['model']} (options: "
                   f"{json.dumps(result['options']) if result['options'] else 'model defaults'})")
        if result["warning"]:
            out.append(result["warning"])
        out += ["", model_table(result, report["floor"], settings["pieces"]), "",
                tells_table(result["tells"]), "",
                "strongest features (mean standardised weight; + leans generated): " + ", ".join(
                    f"{name} {weight:+.2f}" for name, weight in result["strongest_features"]),
                f"composing: {result['seconds_per_piece']:.1f} s per piece (median)", ""]
    return "\n".join(out)


# -- main ----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", action="append", required=True,
                        help="[LABEL=]shipped name or run folder (repeat)")
    parser.add_argument("--data", type=Path, default=PIANO_MIDI, help="the MIDI folder")
    parser.add_argument("--split", choices=("test", "valid"), default="test",
                        help="real excerpts from the held-out test split (the judgement), or "
                             "from the valid split, the only one to choose settings on")
    parser.add_argument("--pieces", type=int, default=32, help="pieces per seed block")
    parser.add_argument("--bars", type=int, default=realism.EXCERPT_BARS)
    parser.add_argument("--blocks", default="1000,2000,3000", help="first seed of each block")
    parser.add_argument("--set", action="append", default=[],
                        help="[LABEL:]option=value for composing (repeat)")
    parser.add_argument("--per-piece", type=int, default=3,
                        help="most real excerpts of one piece in one test")
    parser.add_argument("--min-sounding", type=float, default=0.5,
                        help="a real window sounds at least this share of its steps")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cv-repeats", type=int, default=10, help="fold draws averaged")
    parser.add_argument("--l2", type=float, default=twosample.DEFAULT_L2)
    parser.add_argument("--top-features", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("out/realism"))
    args = parser.parse_args(argv)
    try:
        args.blocks = [int(b) for b in args.blocks.split(",")]
    except ValueError:
        parser.error(f"--blocks {args.blocks!r}: expected first seeds such as 1000,2000,3000")
    tuned = sorted({b + i for b in args.blocks for i in range(args.pieces)} & TUNED_SEEDS)
    if tuned and args.split == "test":
        parser.error(f"--blocks: seeds {tuned[0]}..{tuned[-1]} overlap seeds 0-31 / 100-131, "
                     f"on which earlier work chose settings; take other blocks")
    if not args.data.is_dir():
        parser.error(f"--data {args.data}: no such folder")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from cadenza.api import load

    torch.set_num_threads(args.threads)
    machine = describe_machine()
    print(f"reading the {args.split} split ...", file=sys.stderr)
    real, about = real_excerpts(args.data, args.bars, args.min_sounding, args.split)
    if args.split != "test":
        print(f"tuning run on the {args.split} split: choose settings here, judge on test")
    sets = [parse_option(text) for text in args.set]
    composed: dict[str, dict[int, Excerpts]] = {}
    models: dict[str, Any] = {}
    for label, model in (m.split("=", 1) if "=" in m else [Path(m).name, m] for m in args.model):
        options = {key: value for who, key, value in sets if who in (None, label)}
        loaded = load(model)
        warning = split_warning(label, loaded.info)
        if warning:
            print(warning, file=sys.stderr)
        seconds: list[float] = []
        composed[label] = {}
        for block in args.blocks:
            composed[label][block], spent = compose_block(loaded, label, block, args, options)
            seconds += spent
        models[label] = {"model": model, "path": str(loaded.path), "step": loaded.step,
                         "options": options, "warning": warning,
                         "seconds_per_piece": statistics.median(seconds)}
    names = realism.feature_names()
    everything = np.vstack([real.x, *(block.x for blocks in composed.values()
                                      for block in blocks.values())])
    masks = realism.feature_masks(everything, names)
    floors = {str(block): floor_test(real, args.pieces, block, masks, args)
              for block in args.blocks}
    for label, blocks in composed.items():
        models[label] |= judge(label, blocks, real, masks, names, args)
    report = {
        "machine": machine.to_dict(), "machine_line": machine.line(),
        "date": time.strftime("%Y-%m-%d"), "data": about,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "features": {"names": names, "all": int(masks["all"].sum()),
                     "notes": int(masks["notes"].sum()), "excerpts": len(everything),
                     "dropped": [n for n, k in zip(names, masks["all"], strict=True) if not k]},
        "real_windows": real.sources, "floor": floors, "models": models,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "realism.json").write_text(json.dumps(report, indent=2) + "\n")
    print(report_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
