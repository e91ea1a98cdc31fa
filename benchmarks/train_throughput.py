"""Training throughput of every model family: steps/s, samples/s, peak memory and FLOP/s.

For each preset the model is built from the preset (sized to its representation with
``fit_config``), fed one batch made by the family's own batch maker from synthetic piano
pieces encoded with the family's representation (so the batch has exactly the shapes and
dtypes of training: ``features``/``target`` (B, T, 78, 80)/(B, T, 78, 2) for the biaxial LSTM,
``inputs``/``targets`` (B, T, 88) for the piano-roll LSTM, ``window``/``target`` (B, W, 3)/(B, 3)
for the attention LSTM, ``inputs``/``targets`` (B, T, 3) for the token LSTM), and trained with
Adam in training mode (dropout on): a few warm-up steps, then timed steps of
``zero_grad -> model.loss(batch) -> backward -> step``. Gradient clipping and batch making are
not timed.

Columns: median step time, steps/s and samples/s (sequences or windows per second) from it;
peak resident memory while the preset ran and its growth over the memory at the start (how it
is measured is printed under the table); the model's own FLOP count of forward + backward
(``flops_per_batch``) divided by the median step time, next to this machine's fp32 matmul rate
(a loop of square matmuls at the same thread count, measured for a moment after each timed
step so that it sees the same load; median) and the ratio.
Target: ``biaxial-paper`` reaches at least 40% of the matmul rate (PASS/FAIL printed). The
yardstick is ``torch.mm``, which runs on torch's BLAS (MKL), while torch's CPU LSTMs run on
oneDNN; where oneDNN is much faster (AMD CPUs with AVX-512) a model can exceed 100% of it, so
the machine line and the verdict also quote a oneDNN linear layer's rate.

The token LSTM's vocabulary is fitted on the 4/4 pieces of ``../shared/data/piano-midi.de``
beside the project when it is there (the preset's placeholder sizes otherwise; the table says
which).

Usage: ``python benchmarks/train_throughput.py [--presets P ...] [--steps N] [--warmup N]
[--threads N] [--json OUT] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _machine import (
    SYNTHETIC_PIECES,
    Machine,
    MatmulProbe,
    PeakMemory,
    describe_machine,
    fitted_representation,
    format_load,
    load_average,
    synthetic_score,
)
from rich.console import Console
from rich.table import Table

from cadenza.families import get_family
from cadenza.models.base import Batch, ModelConfig
from cadenza.models.notetokens import NoteTokensLSTMConfig
from cadenza.models.registry import build_model, fit_config, get_preset
from cadenza.representations.base import Representation

PRESETS = (
    "biaxial-small",
    "biaxial-paper",
    "pianoroll-small",
    "pianoroll-rnn4music",
    "events-small",
    "events-attention",
    "notetokens-small",
    "notetokens-lstm",
)
QUICK_PRESETS = ("biaxial-debug", "pianoroll-debug", "events-debug", "notetokens-debug")
TARGET_PRESET = "biaxial-paper"
TARGET_RATIO = 0.40
LEARNING_RATE = 1e-3

console = Console(width=150)


@dataclass
class Result:
    """Measurements of one preset."""

    preset: str
    family: str
    parameters: int
    batch_size: int
    seq_len: int
    warmup: int
    step_seconds: list[float]
    flops_per_step: float
    matmul_gflops: float
    matmul_rates: list[float]
    peak_mb: float
    delta_mb: float
    notes: str = ""
    loss: float = float("nan")

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.step_seconds)

    @property
    def steps_per_second(self) -> float:
        return 1.0 / self.median_seconds

    @property
    def samples_per_second(self) -> float:
        return self.batch_size / self.median_seconds

    @property
    def gflops(self) -> float:
        return self.flops_per_step / self.median_seconds / 1e9

    @property
    def ratio(self) -> float:
        return self.gflops / self.matmul_gflops if self.matmul_gflops > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["derived"] = {
            "median_step_seconds": self.median_seconds,
            "steps_per_second": self.steps_per_second,
            "samples_per_second": self.samples_per_second,
            "achieved_gflops": self.gflops,
            "ratio_to_matmul": self.ratio,
        }
        return out


# -- models and batches ------------------------------------------------------------------------
def model_config(name: str, representation: Representation, real_vocab: bool) -> ModelConfig:
    """The preset ``name`` sized to ``representation``.

    For the token LSTM without a real-corpus vocabulary the preset's placeholder vocabulary
    sizes are kept where they are larger than the fitted (synthetic) ones.
    """
    preset = get_preset(name)
    config = fit_config(preset, representation)
    if isinstance(config, NoteTokensLSTMConfig) and isinstance(preset, NoteTokensLSTMConfig) \
            and not real_vocab:
        config = replace(
            config,
            num_elements=max(config.num_elements, preset.num_elements),
            num_durations=max(config.num_durations, preset.num_durations),
            num_shifts=max(config.num_shifts, preset.num_shifts),
        )
    return config


def training_batch(config: ModelConfig, representation: Representation, seed: int) -> Batch:
    """One training batch of ``config``'s shape from synthetic pieces, via the family's maker."""
    spq = representation.config.steps_per_quarter
    arrays = [
        representation.encode(synthetic_score(steps_per_quarter=spq, seed=s))
        for s in range(SYNTHETIC_PIECES)
    ]
    maker = get_family(config.family).batch_maker_class()(
        arrays, representation, int(config.batch_size), int(config.seq_len),
        transpose_range=tuple(config.transpose_range),  # type: ignore[arg-type]
    )
    return maker.training_batch(np.random.default_rng(seed))


def measure(
    name: str,
    representation: Representation,
    *,
    real_vocab: bool,
    steps: int,
    warmup: int,
    matmul_size: int,
    matmul_seconds: float,
    seed: int,
    notes: str = "",
) -> tuple[Result, str]:
    """Train preset ``name`` for ``warmup + steps`` steps; returns the result and the memory
    method used."""
    config = model_config(name, representation, real_vocab)
    batch = training_batch(config, representation, seed)
    probe = MatmulProbe(matmul_size)
    torch.manual_seed(seed)
    times: list[float] = []
    rates: list[float] = []
    with PeakMemory() as memory:
        model = build_model(config)
        model.train()
        optimizer = torch.optim.Adam(model.param_groups(LEARNING_RATE))
        loss_value = float("nan")
        for index in range(warmup + steps):
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss, _ = model.loss(batch)
            loss.backward()
            optimizer.step()
            elapsed = time.perf_counter() - start
            loss_value = float(loss.detach())
            if index >= warmup:
                times.append(elapsed)
                # The yardstick, measured between the timed steps under the same load.
                rates += probe.rates(matmul_seconds / steps, repeats=1)
    result = Result(
        preset=name,
        family=config.family,
        parameters=model.num_parameters(),
        batch_size=int(config.batch_size),
        seq_len=int(config.seq_len),
        warmup=warmup,
        step_seconds=times,
        flops_per_step=float(getattr(model, "flops_per_batch", model.flops_per_sample)(batch)),
        matmul_gflops=statistics.median(rates),
        matmul_rates=rates,
        peak_mb=memory.peak_mb,
        delta_mb=memory.delta_mb,
        notes=notes,
        loss=loss_value,
    )
    if isinstance(config, NoteTokensLSTMConfig):
        source = notes if real_vocab else "preset placeholder sizes (no corpus read)"
        result.notes = (f"vocabulary {source}: {config.num_elements} elements, "
                        f"{config.num_durations} durations, {config.num_shifts} shifts")
    del model, optimizer, batch, probe
    return result, memory.method


# -- report ------------------------------------------------------------------------------------
def results_table(results: list[Result]) -> Table:
    table = Table(title="Training throughput (Adam, training mode, one synthetic batch reused)")
    for column in ("preset", "params", "B x T", "step s", "steps/s", "samples/s",
                   "GFLOP/step", "GFLOP/s", "matmul GFLOP/s", "of matmul", "peak MB (+grow)"):
        table.add_column(column, justify="left" if column == "preset" else "right")
    for r in results:
        table.add_row(
            r.preset,
            f"{r.parameters / 1e6:.2f}M",
            f"{r.batch_size} x {r.seq_len}",
            f"{r.median_seconds:.3f}",
            f"{r.steps_per_second:.2f}",
            f"{r.samples_per_second:.1f}",
            f"{r.flops_per_step / 1e9:.3g}",
            f"{r.gflops:.3g}",
            f"{r.matmul_gflops:.1f}",
            f"{100 * r.ratio:.0f}%",
            f"{r.peak_mb:.0f} (+{r.delta_mb:.0f})",
        )
    return table


def target_verdict(results: list[Result], onednn: float | None = None) -> tuple[str, bool | None]:
    """The PASS/FAIL line for the biaxial-paper target (``None`` when it was not measured).

    The target is judged against the ``torch.mm`` rate; ``onednn`` (the machine's oneDNN
    linear rate, measured at the start) is quoted beside it when known.
    """
    for r in results:
        if r.preset == TARGET_PRESET:
            ok = r.ratio >= TARGET_RATIO
            verdict = "PASS" if ok else "FAIL"
            also = (f"; {100 * r.gflops / onednn:.0f}% of the oneDNN linear rate "
                    f"{onednn:.1f} GFLOP/s measured at the start" if onednn else "")
            return (
                f"{verdict}: {TARGET_PRESET} trains at {r.gflops:.1f} GFLOP/s = "
                f"{100 * r.ratio:.0f}% of the measured torch.mm rate {r.matmul_gflops:.1f} "
                f"GFLOP/s (target >= {100 * TARGET_RATIO:.0f}%){also}"
            ), ok
    return f"target not measured: {TARGET_PRESET} was not among the presets", None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--presets", nargs="+", default=None,
                        help=f"presets to measure (default: {' '.join(PRESETS)})")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per preset")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--vocab-files", type=int, default=None,
                        help="corpus files read to fit the token vocabulary (default all, "
                             "0 = preset placeholder sizes)")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, metavar="OUT",
                        help="also write the results to this JSON file")
    parser.add_argument("--quick", action="store_true",
                        help="debug presets, 2 steps, small matmul: a check that it runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.presets = args.presets or list(QUICK_PRESETS)
        args.steps = min(args.steps, 2)
        args.warmup = min(args.warmup, 1)
        args.matmul_size = min(args.matmul_size, 256)
        args.vocab_files = 0
    args.presets = args.presets or list(PRESETS)
    if args.steps < 1 or args.warmup < 0:
        parser.error("need --steps >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    matmul_seconds = 0.2 if args.quick else 1.5
    machine: Machine = describe_machine(args.matmul_size, matmul_seconds)
    load_before = load_average()
    console.print(machine.line())
    console.print(format_load(load_before) + " before")

    families = {get_preset(name).family for name in args.presets}
    representations: dict[str, Representation] = {}
    fitted_notes: dict[str, str] = {}
    for family in sorted(families):
        representations[family], fitted_notes[family] = fitted_representation(
            family, args.vocab_files
        )
    real_vocab = "piano-midi.de" in fitted_notes.get("notetokens", "")

    results: list[Result] = []
    memory_method = ""
    for name in args.presets:
        family = get_preset(name).family
        console.print(f"measuring {name} ...", style="dim")
        result, memory_method = measure(
            name, representations[family], real_vocab=real_vocab, steps=args.steps,
            warmup=args.warmup, matmul_size=args.matmul_size, matmul_seconds=matmul_seconds,
            seed=args.seed, notes=fitted_notes[family] if family == "notetokens" else "",
        )
        results.append(result)
    load_after = load_average()

    console.print(results_table(results))
    console.print(machine.line())
    console.print(f"before: {format_load(load_before)}; after: {format_load(load_after)}")
    console.print(f"{args.warmup} warm-up + {args.steps} timed steps per preset; "
                  f"step time is the median; peak memory: {memory_method}")
    for r in results:
        if r.notes:
            console.print(f"{r.preset}: {r.notes}")
    verdict, ok = target_verdict(results, machine.onednn_gflops)
    console.print(verdict, style="bold green" if ok else "bold red" if ok is False else "")

    if args.json is not None:
        payload = {
            "benchmark": "train_throughput",
            "machine": machine.to_dict(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "settings": {"steps": args.steps, "warmup": args.warmup, "threads":
                         torch.get_num_threads(), "memory_method": memory_method},
            "results": [r.to_dict() for r in results],
            "target": {"preset": TARGET_PRESET, "ratio": TARGET_RATIO, "passed": ok,
                       "verdict": verdict},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
