"""bfloat16 autocast against float32: training speed and loss curves, side by side.

Two copies of one model (same initial weights, same seed, so the same batches in the same
order) are trained in one process, one step of each in turn so that both see the same load:
one with the forward pass in float32, one under ``torch.autocast("cpu", torch.bfloat16)`` as
``cadenza train --precision bf16`` (and ``auto`` on CPUs with native bfloat16) runs it. Each
step is timed whole, as the trainer runs it: making the batch (NumPy features), forward,
backward and the Adam update. At the end both are scored on the validation windows in
float32.

Printed: median seconds per step and steps/s for each precision and the speed-up; the
training loss of both, averaged over blocks of steps, and the largest relative gap between
the two curves; the validation loss of both. Target (issue "faster training"): bf16
biaxial-small training steps/s at least 2x float32's, with loss curves that agree.

Data: the 4/4 pieces of ``../shared/data/piano-midi.de`` beside the project when present
(long piano windows, the case that matters), else a small synthetic corpus.

Usage: ``python benchmarks/train_precision.py [--preset biaxial-small] [--steps 60]
[--threads 1] [--json OUT] [--quick]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _machine import SYNTHETIC_PIECES, describe_machine, format_load, load_average
from rich.console import Console
from rich.table import Table

from cadenza.experiment import prepare_experiment
from cadenza.midi import write_midi
from cadenza.training import native_bf16

ROOT = Path(__file__).resolve().parents[1]
PIANO = ROOT.parent / "shared" / "data" / "piano-midi.de" / "midis"
TARGET_SPEEDUP = 2.0

console = Console(width=132)


def synthetic_folder(folder: Path) -> Path:
    """A few synthetic 4/4 piano pieces as MIDI files (when the real corpus is absent)."""
    from _machine import synthetic_score

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(SYNTHETIC_PIECES):
        write_midi(synthetic_score(index), folder / f"piece{index}.mid", overwrite=True)
    return folder


def train_side_by_side(preset: str, data: Path, steps: int, seed: int,
                       overrides: dict[str, Any]) -> dict[str, Any]:
    """Train an fp32 and a bf16 copy in turn; per-step seconds and losses of each."""
    torch.manual_seed(seed)
    experiment = prepare_experiment(preset, data, overrides=overrides, progress=False)
    models = {"fp32": experiment.model, "bf16": copy.deepcopy(experiment.model)}
    optimisers = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    rngs = {k: np.random.default_rng(seed) for k in models}
    seconds: dict[str, list[float]] = {k: [] for k in models}
    losses: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(steps):
        for name, model in models.items():
            model.train()
            start = time.perf_counter()
            batch = experiment.train_batches.training_batch(rngs[name])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16"):
                loss, _ = model.loss(batch)
            optimisers[name].zero_grad(set_to_none=True)
            loss.backward()
            optimisers[name].step()
            seconds[name].append(time.perf_counter() - start)
            losses[name].append(float(loss.detach()))
    valid = {}
    for name, model in models.items():
        model.eval()
        with torch.no_grad():
            values = [float(model.loss(b)[0]) for b in experiment.valid_batches.eval_batches()] \
                if experiment.valid_batches is not None else []
        valid[name] = statistics.fmean(values) if values else float("nan")
    return {"preset": preset, "seconds": seconds, "losses": losses, "valid_loss": valid,
            "batch": {k: list(v.shape) for k, v in
                      experiment.train_batches.training_batch(np.random.default_rng(0)).items()}}


def block_means(values: list[float], blocks: int) -> list[float]:
    """``values`` averaged over ``blocks`` consecutive blocks of (nearly) equal size."""
    return [float(np.mean(part)) for part in np.array_split(np.asarray(values), blocks)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="biaxial-small")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, metavar="OUT")
    parser.add_argument("--quick", action="store_true",
                        help="debug preset, synthetic data, 4 steps (a smoke test)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not native_bf16(torch.device("cpu")):
        console.print("this CPU has no native bfloat16 (AVX512-BF16 or AMX): cadenza trains "
                      "in fp32 here and refuses --precision bf16; nothing to compare")
        return 2
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {}
        if args.quick:
            args.preset, args.steps = "biaxial-debug", 4
            data = synthetic_folder(Path(tmp) / "midi")
        else:
            data = args.data or (PIANO if PIANO.is_dir() else synthetic_folder(Path(tmp) / "m"))
        result = train_side_by_side(args.preset, data, args.steps, args.seed, overrides)
    machine = describe_machine(matmul_seconds=0.5)
    medians = {k: statistics.median(v) for k, v in result["seconds"].items()}
    speedup = medians["fp32"] / medians["bf16"]
    blocks = min(6, args.steps)
    curves = {k: block_means(v, blocks) for k, v in result["losses"].items()}
    gap = max(abs(b - f) / abs(f) for f, b in zip(curves["fp32"], curves["bf16"], strict=True))
    table = Table(title=f"{result['preset']}: float32 vs bfloat16 autocast, {args.steps} steps "
                        f"each, {args.threads} thread(s), data {data}")
    for column in ("precision", "median s/step", "steps/s", "speed-up",
                   f"train loss in {blocks} blocks of steps", "valid loss (fp32 eval)"):
        table.add_column(column)
    for name in ("fp32", "bf16"):
        table.add_row(name, f"{medians[name]:.3f}", f"{1 / medians[name]:.2f}",
                      f"{medians['fp32'] / medians[name]:.2f}x",
                      " ".join(f"{v:.4f}" for v in curves[name]),
                      f"{result['valid_loss'][name]:.4f}")
    console.print(table)
    console.print(f"batch shapes {result['batch']}; largest relative gap between the block "
                  f"means of the two curves: {gap:.1%}")
    console.print(f"machine: {machine.cpu}, {machine.usable_cores} usable cores, torch "
                  f"{machine.torch_version}; {format_load(load_average())}; {machine.date}")
    verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
    console.print(f"target: bf16 steps/s >= {TARGET_SPEEDUP:.0f}x fp32: {speedup:.2f}x ({verdict})")
    if args.json is not None:
        report = {"machine": machine.__dict__, "steps": args.steps, "threads": args.threads,
                  "data": str(data), "speedup": speedup, "median_seconds": medians,
                  "curve_blocks": curves, "largest_block_gap": gap, **result}
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
