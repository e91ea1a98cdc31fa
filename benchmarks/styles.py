"""Styles: does a style-conditioned model compose pieces a style classifier attributes to the
style asked for?

The classifier is fitted on real music only, then judges the model. Real excerpts are
``--bars``-bar windows (4/4 bars of 16 sixteenths on bar lines, mostly sounding) of
piano-midi.de read with the judged 4/4-like metres (``benchmarks/_pieces.py``); each is
labelled with the model's style of its piece (the composer from ``metadata.csv``, or its
period, :mod:`cadenza.data.styles`). Each excerpt becomes the key-invariant features of
:mod:`cadenza.metrics.realism`. The classifier is one L2 logistic regression per style (that
style against the rest, :mod:`cadenza.metrics.twosample`) on standardised features; an
excerpt goes to the style of the highest probability, and every style's training excerpts
weigh as much as any other's (so the largest style is not favoured by its size).

* It is fitted on the excerpts of the **training split** and checked on those of the
  **valid split** (real pieces it never saw): its accuracy there says how well the features
  tell the styles apart at all.
* For each style X and each seed block, the model composes ``--pieces`` pieces of ``--bars``
  bars with ``style=X`` from silence, with its default settings (seeds ``block ..``, one
  batch); ``--style-strength S`` composes them at style strength S instead of the model's
  own default (:mod:`cadenza.models.styleinput`). The same seeds compose every style, so
  the pieces differ only by the style asked.
* A second table: the model's loss on the valid split's windows (rows: their true style)
  when it is given each style (columns); the conditioning helps where the true style's
  loss is the lowest of its row.
* The table: for each X, the share of X-pieces attributed to X, against the share of the
  other styles' pieces attributed to X, and chance (1 / number of styles); per block and
  their mean. A style is recognised when the first is above both.

Nothing was chosen on the test split: the model's checkpoint was chosen on the valid split's
validation loss; this script reads the training and valid splits only.

Usage: ``python benchmarks/styles.py [--model biaxial-styles] [--blocks 4000,5000]
[--pieces 16] [--bars 8] [--style-strength S] [--threads 1]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from _machine import describe_machine
from _pieces import PIANO_MIDI, held_out_corpus

from cadenza.data.styles import PERIODS
from cadenza.metrics import realism, twosample


# -- the classifier ------------------------------------------------------------------------------
class StyleClassifier:
    """One-vs-rest logistic regressions on standardised features, balanced by style."""

    def __init__(self, x: np.ndarray, labels: np.ndarray, styles: int, l2: float) -> None:
        self.keep = ~twosample.constant_columns(x)
        x = x[:, self.keep]
        self.mean, self.scale = twosample.standardiser(x)
        z = (x - self.mean) / self.scale
        counts = np.bincount(labels, minlength=styles)
        rows = [np.repeat(np.flatnonzero(labels == s), counts.max() // max(counts[s], 1))
                for s in range(styles)]  # each style repeated to about the largest's size
        balanced = np.concatenate(rows)
        self.models = [twosample.fit_logistic(z[balanced], (labels[balanced] == s).astype(float),
                                              l2) for s in range(styles)]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(N, styles): each style's one-vs-rest probability, normalised over styles."""
        z = (x[:, self.keep] - self.mean) / self.scale
        p = np.stack([twosample.predict_proba(z, w, b) for w, b in self.models], axis=1)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.probabilities(x), axis=1)


# -- the two sides ---------------------------------------------------------------------------------
def style_of(composer: str | None, styles: list[str]) -> int | None:
    """The index of the model style a composer's piece belongs to (by name or period)."""
    if composer is None:
        return None
    for index, style in enumerate(styles):
        parts = style.split("+")
        if composer in parts or PERIODS.get(composer) in parts:
            return index
    return None


def real_excerpts(corpus: Any, split: str, styles: list[str], bars: int
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """Features (N, F) and style labels (N,) of every window of a split's labelled pieces,
    and the number of pieces they come from."""
    steps = bars * realism.STEPS_PER_BAR
    rows, labels, pieces = [], [], set()
    for piece in corpus.split(split):
        label = style_of(piece.composer, styles)
        if label is None:
            continue
        for start in realism.window_starts(piece.score, bars):
            rows.append(realism.excerpt_notes(piece.score, start, steps))
            labels.append(label)
            pieces.add(piece.path)
    return realism.feature_matrix(rows, steps), np.asarray(labels, dtype=np.int64), len(pieces)


def composed_excerpts(model: str, style: str, block: int, args: argparse.Namespace
                      ) -> np.ndarray:
    """Features of ``args.pieces`` pieces composed in ``style`` from silence (one batch)."""
    from cadenza.composing import ComposeRequest, compose
    from cadenza.score import quantise

    steps = args.bars * realism.STEPS_PER_BAR
    request = ComposeRequest(checkpoint=model, bars=args.bars, count=args.pieces, seed=block,
                             style=style, style_strength=args.style_strength,
                             threads=args.threads, write_files=False)
    rows = []
    for piece in compose(request).pieces:
        score, start = piece.score, piece.generated_start_tick
        if score.ticks_per_quarter != realism.STEPS_PER_QUARTER:
            start = round(start * realism.STEPS_PER_QUARTER / score.ticks_per_quarter)
            score = quantise(score, realism.STEPS_PER_QUARTER)
        rows.append(realism.excerpt_notes(score, start, steps))
    return realism.feature_matrix(rows, steps)


# -- the model's own view: validation loss under each style ------------------------------------
def style_losses(loaded: Any, data: Path, max_batches: int) -> dict[str, Any]:
    """Mean loss of the valid split's windows (rows: their true style) when the model is given
    each style (columns): the conditioning helps where the diagonal is lowest in its row."""
    import torch

    from cadenza.data import CorpusConfig, build_corpus
    from cadenza.data.styles import StyleChoice, label_pieces
    from cadenza.experiment import VALID_SPLIT, split_arrays
    from cadenza.families import get_family

    info, model = loaded.info, loaded.model.eval()
    choice = info["data"]["styles"]
    corpus = build_corpus(data, loaded.representation,
                          CorpusConfig.from_dict(info["data"]["corpus"]), workers=1,
                          progress=False)
    labels = label_pieces(StyleChoice(choice["source"], choice["level"], choice["min_pieces"]),
                          corpus.root, [(p.path, p.split) for p in corpus.pieces])
    arrays, styles = split_arrays(corpus, VALID_SPLIT, labels)
    family = get_family(model.family)
    maker = family.batch_maker_class()(
        arrays, loaded.representation, model.config.batch_size, model.config.seq_len,
        max_eval_batches=max_batches, styles=styles, **family.batch_maker_options(model.config))
    count = len(labels.styles)
    total, windows = np.zeros((count, count)), np.zeros(count)
    with torch.no_grad():
        for batch in maker.eval_batches():
            for row, true in enumerate(batch["style"].tolist()):
                one = {k: v[row:row + 1] for k, v in batch.items()}
                for given in range(count):
                    loss, _ = model.loss({**one, "style": torch.tensor([given])})
                    total[true, given] += float(loss)
                windows[true] += 1
    return {"styles": list(labels.styles), "windows": windows.tolist(),
            "loss": (total / np.maximum(windows, 1)[:, None]).tolist()}


def loss_table(losses: dict[str, Any]) -> str:
    styles = losses["styles"]
    lines = ["| valid windows of \\ given style | " + " | ".join(styles) + " | windows |",
             "|" + " --- |" * (len(styles) + 2)]
    for style, row, n in zip(styles, losses["loss"], losses["windows"], strict=True):
        best = int(np.argmin(row))
        cells = [f"**{v:.4f}**" if i == best else f"{v:.4f}" for i, v in enumerate(row)]
        lines.append(f"| {style} | " + " | ".join(cells) + f" | {int(n)} |")
    return "\n".join(lines)


# -- the report ----------------------------------------------------------------------------------
def attribution(guesses: dict[str, np.ndarray], styles: list[str]) -> dict[str, dict[str, float]]:
    """For each style X: the share of X-pieces attributed to X and of the others' pieces."""
    out = {}
    for index, style in enumerate(styles):
        own = float(np.mean(guesses[style] == index))
        others = np.concatenate([g for s, g in guesses.items() if s != style])
        out[style] = {"own": own, "others": float(np.mean(others == index))}
    return out


def table(report: dict[str, Any]) -> str:
    styles, blocks = report["styles"], report["blocks"]
    chance = 1 / len(styles)
    head = ("| style | real valid recall | " + " | ".join(
        f"block {b}: X-pieces -> X / others -> X" for b in blocks)
        + " | mean X -> X | mean others -> X | chance |")
    lines = [head, "|" + " --- |" * (len(blocks) + 5)]
    recall = report["real"]["valid_recall"]
    for style in styles:
        cells = [f"{report['attribution'][str(b)][style]['own']:.2f} / "
                 f"{report['attribution'][str(b)][style]['others']:.2f}" for b in blocks]
        own = np.mean([report["attribution"][str(b)][style]["own"] for b in blocks])
        others = np.mean([report["attribution"][str(b)][style]["others"] for b in blocks])
        lines.append(f"| {style} | {recall[style]:.2f} | " + " | ".join(cells)
                     + f" | {own:.2f} | {others:.2f} | {chance:.2f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="biaxial-styles", help="shipped name or run folder")
    parser.add_argument("--data", type=Path, default=PIANO_MIDI, help="the MIDI folder")
    parser.add_argument("--pieces", type=int, default=16, help="pieces per style and block")
    parser.add_argument("--bars", type=int, default=8, help="bars of each excerpt and piece")
    parser.add_argument("--blocks", default="4000,5000", help="first seed of each block")
    parser.add_argument("--style-strength", type=float, default=None,
                        help="compose at this style strength (default: the model's own)")
    parser.add_argument("--l2", type=float, default=twosample.DEFAULT_L2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loss-batches", type=int, default=20,
                        help="valid batches of the loss-by-style table (0: skip it)")
    parser.add_argument("--out", type=Path, default=Path("out/styles"))
    args = parser.parse_args(argv)
    args.blocks = [int(b) for b in args.blocks.split(",")]
    if not args.data.is_dir():
        parser.error(f"--data {args.data}: no such folder (piano-midi.de is needed)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from cadenza.api import load, styles

    torch.set_num_threads(args.threads)
    machine = describe_machine()
    names = styles(args.model)
    if len(names) < 2:
        print(f"{args.model}: not a style-conditioned model", file=sys.stderr)
        return 2
    corpus = held_out_corpus(args.data)
    x_train, y_train, train_pieces = real_excerpts(corpus, "train", names, args.bars)
    x_valid, y_valid, valid_pieces = real_excerpts(corpus, "valid", names, args.bars)
    classifier = StyleClassifier(x_train, y_train, len(names), args.l2)
    guess = classifier.predict(x_valid)
    recall = {s: float(np.mean(guess[y_valid == i] == i)) if (y_valid == i).any() else float("nan")
              for i, s in enumerate(names)}
    real = {"train_excerpts": dict(Counter(names[i] for i in y_train)),
            "valid_excerpts": dict(Counter(names[i] for i in y_valid)),
            "train_pieces": train_pieces, "valid_pieces": valid_pieces,
            "valid_accuracy": float(np.mean(guess == y_valid)),
            "valid_balanced_accuracy": float(np.nanmean(list(recall.values()))),
            "valid_recall": recall}
    print(f"classifier on the valid split: accuracy {real['valid_accuracy']:.2f}, balanced "
          f"{real['valid_balanced_accuracy']:.2f} (chance {1 / len(names):.2f})", file=sys.stderr)
    results: dict[str, Any] = {}
    for block in args.blocks:
        guesses = {}
        for style in names:
            started = time.perf_counter()
            guesses[style] = classifier.predict(composed_excerpts(args.model, style, block, args))
            print(f"block {block} {style}: {time.perf_counter() - started:.0f} s, attributed "
                  f"{dict(Counter(names[g] for g in guesses[style]))}", file=sys.stderr)
        results[str(block)] = attribution(guesses, names)
    losses = (style_losses(load(args.model), args.data, args.loss_batches)
              if args.loss_batches else None)
    report = {"machine": machine.to_dict(), "machine_line": machine.line(),
              "model": args.model, "model_path": str(load(args.model).path), "styles": names,
              "blocks": args.blocks, "settings": {k: str(v) for k, v in vars(args).items()},
              "real": real, "attribution": results, "losses": losses}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "styles.json").write_text(json.dumps(report, indent=2) + "\n")
    print(machine.line())
    print(f"classifier: trained on {sum(real['train_excerpts'].values())} excerpts of "
          f"{train_pieces} training pieces, {real['valid_accuracy']:.2f} accuracy "
          f"({real['valid_balanced_accuracy']:.2f} balanced) on "
          f"{sum(real['valid_excerpts'].values())} excerpts of {valid_pieces} valid pieces")
    print(table(report))
    if losses is not None:
        print(f"\nvalidation loss of the valid split's windows given each style "
              f"({args.loss_batches} batches at most; bold: the lowest of the row)")
        print(loss_table(losses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
