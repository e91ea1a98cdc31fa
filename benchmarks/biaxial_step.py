"""One biaxial training step, before and after issue 27 item 6: time, memory and losses.

A step is timed whole, as ``cadenza train`` runs it: making the batch (NumPy features of 10
random windows, transposed within -6..5 semitones), forward, backward and the Adam update, in
float32 (this machine has no native bfloat16). Two configurations are measured, the ones
being trained: ``biaxial-small`` with ``chord_inputs=true velocity_bins=8 seq_len=32`` and a
wider one (time 160,160; note 64,48; seq_len 64), on synthetic piano pieces.

Variants, each in a fresh process (the allocator setting is per process and cannot be undone):

* ``old``: the code before the change: the time and note stacks as they were (copies of
  the old methods below), the old feature loop, glibc's default allocator behaviour;
* ``new code``: today's code with the default allocator (what the code changes alone give);
* ``new``: today's code as :class:`cadenza.training.Trainer` runs it, after
  :func:`cadenza.machine.keep_freed_memory`.

The variants run in turn (A, B, C, then C, B, A, ...) for ``--rounds`` rounds so that they see
the same load; every run uses the same seed, so the same weights, batches and dropout masks.
Printed: the machine line; a Markdown table of median step times, the speed-up, peak resident
memory and the first losses of each variant; where the time of a step goes (batch, forward,
backward, optimizer); and how far apart the loss curves are. Since 2026-12-07 the first time
layer trains through PyTorch's own LSTM (no gradient for the input features), which agrees
with oneDNN's to float32 rounding, not bit for bit: the runs pass when every loss of every
run is within ``--tolerance`` (relative) of the first run's.

Usage: ``python benchmarks/biaxial_step.py [--configs small wide] [--rounds 3] [--steps 6]
[--warmup 2] [--threads 1] [--json OUT] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

VARIANTS = ("old", "new code", "new")
CONFIGS: dict[str, dict[str, Any]] = {
    "small": {"time_sizes": (96, 96), "note_sizes": (48, 32), "seq_len": 32},
    "wide": {"time_sizes": (160, 160), "note_sizes": (64, 48), "seq_len": 64},
    "debug": {"time_sizes": (16, 16), "note_sizes": (8, 8), "seq_len": 16, "batch_size": 4},
}
SHARED = {"chord_inputs": True, "velocity_bins": 8, "dropout": 0.5, "transpose_range": (-6, 5)}
LEARNING_RATE = 2e-3
SHOWN_LOSSES = 3


# -- the code before the change (issue 27 item 6), for the "old" variant ----------------------
def _old_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    keep = torch.full((x.shape[0], 1, x.shape[2]), 1.0 - p, device=x.device, dtype=x.dtype)
    return x * torch.bernoulli(keep) / (1.0 - p)


def _old_time_forward(self: Any, features: torch.Tensor, style: Any = None) -> torch.Tensor:
    assert style is None, "the old time axis had no styles"
    b, t, n, f = features.shape
    x = features.permute(0, 2, 1, 3).reshape(b * n, t, f)  # (B*N, T, F)
    for lstm in self.time_layers:
        x, _ = lstm(x)
        x = _old_dropout(x, self.config.dropout, self.training)
    return x.reshape(b, n, t, -1).permute(0, 2, 1, 3)


def _old_note_logits(self: Any, time_out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    from cadenza.models.chordcontext import chord_counts

    b, t, n, _ = time_out.shape
    lower = F.pad(target[:, :, :-1, :2], (0, 0, 1, 0))
    parts = [time_out, lower.to(time_out.dtype)]
    if self.config.chord_inputs:
        parts.append(chord_counts(target[..., 0].float()).to(time_out.dtype))
    x = torch.cat(parts, dim=-1).reshape(b * t, n, -1)
    for lstm in self.note_layers:
        x, _ = lstm(x)
        x = _old_dropout(x, self.config.dropout, self.training)
    return self.output(x).reshape(b, t, n, 2)


def _old_input_features(state: np.ndarray, first_step: int = 0, low: int = 24) -> np.ndarray:
    from cadenza.representations import notestate as ns

    state = np.asarray(state)[..., :2]
    *lead, num_steps, num_notes, _ = state.shape
    values = state.astype(np.float32, copy=False)
    one_hot, rotation, positions = ns._note_tables(num_notes, int(low))
    out = np.empty((*lead, num_steps, num_notes, ns.NUM_FEATURES), dtype=np.float32)
    out[..., 0] = positions
    out[..., 1:13] = one_hot
    padded = np.zeros((*lead, num_steps, num_notes + 2 * ns.VICINITY, 2), dtype=np.float32)
    padded[..., ns.VICINITY : ns.VICINITY + num_notes, :] = values
    for offset in range(2 * ns.VICINITY + 1):
        column = 13 + 2 * offset
        out[..., column : column + 2] = padded[..., offset : offset + num_notes, :]
    counts = np.einsum("...n,nc->...c", values[..., 0], one_hot)
    out[..., 63:75] = counts[..., rotation]
    bits = ((int(first_step) + np.arange(num_steps))[:, None] >> np.arange(4)[None, :]) & 1
    out[..., 75:79] = (2 * bits - 1).astype(np.float32)[:, None, :]
    out[..., 79] = 0.0
    return out


def _old_velocity_logits(self: Any, time_out: torch.Tensor, notes: torch.Tensor,
                         where: torch.Tensor | None = None) -> torch.Tensor:
    """The dynamics output as it was: logits of every (step, note), then those asked for."""
    from cadenza.models.chordplace import velocity_logits

    logits = velocity_logits(self.velocity, self.voicing, time_out, notes)
    return logits if where is None else logits[where]


def use_old_code(model: Any) -> None:
    """Put the pre-change methods on ``model`` and the old feature loop in the module."""
    from cadenza.representations import notestate

    model.time_forward = types.MethodType(_old_time_forward, model)
    model.note_logits = types.MethodType(_old_note_logits, model)
    model.velocity_logits = types.MethodType(_old_velocity_logits, model)
    notestate.input_features = _old_input_features  # type: ignore[assignment]


# -- one run (a child process) -----------------------------------------------------------------
def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run(config_name: str, variant: str, steps: int, warmup: int, seed: int) -> dict[str, Any]:
    """Train ``warmup + steps`` steps of one configuration as ``variant``; timings, losses."""
    from _machine import SYNTHETIC_PIECES, synthetic_score

    from cadenza.data.batching.notestate import NoteStateBatchMaker
    from cadenza.experiment import make_representation
    from cadenza.machine import keep_freed_memory
    from cadenza.models.registry import build_model, fit_config, get_preset

    if variant == "new":
        keep_freed_memory()
    config = replace(get_preset("biaxial-small"), **SHARED, **CONFIGS[config_name])
    representation = make_representation("biaxial", model=config)
    config = fit_config(config, representation)
    arrays = [representation.encode(synthetic_score(steps_per_quarter=4, seed=s))
              for s in range(SYNTHETIC_PIECES)]
    maker = NoteStateBatchMaker(arrays, representation, config.batch_size, config.seq_len,
                                transpose_range=config.transpose_range, segment_step=16)
    torch.manual_seed(seed)
    model = build_model(config)
    model.train()
    if variant == "old":
        use_old_code(model)
    optimizer = torch.optim.Adam(model.param_groups(LEARNING_RATE))
    rng = np.random.default_rng(seed)
    phases: dict[str, list[float]] = {k: [] for k in ("step", "batch", "forward", "backward",
                                                      "optimizer")}
    losses = []
    for index in range(warmup + steps):
        t0 = time.perf_counter()
        batch = maker.training_batch(rng)
        t1 = time.perf_counter()
        loss, _ = model.loss(batch)
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        losses.append(float(loss.detach()))
        if index >= warmup:
            for key, seconds in zip(phases, (t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3),
                                    strict=True):
                phases[key].append(seconds)
    return {"config": config_name, "variant": variant, "losses": losses, "seconds": phases,
            "peak_rss_mb": peak_rss_mb()}


# -- the parent: runs in turn, report ----------------------------------------------------------
def child(config_name: str, variant: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", config_name, variant,
               "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--threads", str(args.threads), "--seed", str(args.seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{config_name} / {variant} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median_ms(runs: list[dict[str, Any]], phase: str = "step") -> float:
    return 1e3 * statistics.median(s for r in runs for s in r["seconds"][phase])


def report(results: dict[str, dict[str, list[dict[str, Any]]]], tolerance: float
           ) -> tuple[list[str], float]:
    """Markdown lines of the tables, and the largest relative gap between two runs' losses
    at the same step (0.0: every loss agrees bit for bit)."""
    lines = [
        "| configuration | old step ms | new step ms | speed-up | new code, default malloc "
        "ms | peak RSS old / new MB | first losses, old | first losses, new | same losses |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    largest = 0.0
    for name, by_variant in results.items():
        old, new, code = by_variant["old"], by_variant["new"], by_variant["new code"]
        curves = [r["losses"] for runs in by_variant.values() for r in runs]
        equal = all(c == curves[0] for c in curves)
        gap = max(abs(a - b) / abs(a) for c in curves for a, b in zip(curves[0], c, strict=True))
        largest = max(largest, gap)
        verdict = ("yes, bit for bit" if equal else f"within {tolerance:.0e} (max rel. gap "
                   f"{gap:.1e})" if gap <= tolerance else f"NO (max rel. gap {gap:.1e})")
        shown = [" ".join(f"{v:.6f}" for v in runs[0]["losses"][:SHOWN_LOSSES])
                 for runs in (old, new)]
        sizes = CONFIGS[name]
        label = (f"{name}: time {sizes['time_sizes']}, note {sizes['note_sizes']}, "
                 f"seq_len {sizes['seq_len']}")
        lines.append(
            f"| {label} | {median_ms(old):.0f} | {median_ms(new):.0f} | "
            f"{median_ms(old) / median_ms(new):.2f}x | {median_ms(code):.0f} | "
            f"{max(r['peak_rss_mb'] for r in old):.0f} / {max(r['peak_rss_mb'] for r in new):.0f}"
            f" | {shown[0]} | {shown[1]} | "
            f"{verdict} |"
        )
    lines += ["", "| configuration | variant | batch ms | forward ms | backward ms | "
              "optimizer ms | step ms |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, by_variant in results.items():
        for variant, runs in by_variant.items():
            cells = " | ".join(f"{median_ms(runs, p):.1f}" for p in
                               ("batch", "forward", "backward", "optimizer", "step"))
            lines.append(f"| {name} | {variant} | {cells} |")
    return lines, largest


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--configs", nargs="+", default=["small", "wide"], choices=CONFIGS)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant, in turn")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-5,
                        help="largest relative gap between runs' losses that is the same curve")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT")
    parser.add_argument("--quick", action="store_true",
                        help="the debug configuration, one round of 2 steps: a check that it runs")
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.configs, args.rounds, args.steps, args.warmup = ["debug"], 1, 1, 1
    if args.rounds < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("need --rounds >= 1, --steps >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        config_name, variant = args.child
        print(json.dumps(run(config_name, variant, args.steps, args.warmup, args.seed)))
        return 0
    from _machine import describe_machine, format_load, load_average

    machine = describe_machine(512 if args.quick else 2048, 0.2 if args.quick else 1.5)
    load_before = load_average()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {v: [] for v in VARIANTS} for name in args.configs}
    for round_index in range(args.rounds):
        order = VARIANTS if round_index % 2 == 0 else VARIANTS[::-1]
        for name in args.configs:
            for variant in order:
                print(f"round {round_index + 1}/{args.rounds}: {name}, {variant} ...",
                      file=sys.stderr, flush=True)
                results[name][variant].append(child(name, variant, args))
    lines, gap = report(results, args.tolerance)
    same = gap <= args.tolerance
    print(machine.line())
    print(f"{format_load(load_before)} before; {format_load(load_average())} after")
    print(f"{args.rounds} run(s) per variant, each {args.warmup} untimed + {args.steps} timed "
          f"steps; medians over all timed steps; {args.threads} torch thread(s), float32\n")
    print("\n".join(lines))
    print(f"\nevery loss of every run (all {args.warmup + args.steps} steps, every variant "
          f"and round) within {args.tolerance:.0e} of the first run's: "
          f"{'yes' if same else 'NO'} (largest relative gap {gap:.1e})")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "biaxial_step", "machine":
                                         machine.to_dict(), "results": results,
                                         "largest_loss_gap": gap, "same_curve": same},
                                        indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
