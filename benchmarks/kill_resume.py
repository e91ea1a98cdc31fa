"""Training survives being killed: kill -9 at random moments, resume, and end with the weights
of a run that was never interrupted.

One `cadenza train` run goes uninterrupted to ``--steps``. A second run in another folder is
started, killed with SIGKILL a random moment after it passes a random step (inside a step, a
checkpoint write or a pointer write), started again with ``--resume``, and so on ``--kills``
times, then left to finish. Both use the same seed, fp32 and one thread, so a run
that resumes exactly from its last checkpoint must end with weights equal to the
uninterrupted run's. Printed: each kill (after how long, the step it had reached), then the
largest weight difference and the verdict.

Usage: ``python benchmarks/kill_resume.py [--kills 10] [--steps 1000] [--preset pianoroll-debug]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def corpus(folder: Path) -> Path:
    """A small folder of 4/4 pieces to train on."""
    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(10):
        starts = np.arange(0, 256, 2)
        pitches = 48 + (np.cumsum(rng.integers(-3, 4, len(starts))) % 36)
        score = Score(make_notes(starts, np.full(len(starts), 2), pitches), 4,
                      time_signatures=(TimeSignature(0, 4, 4),))
        write_midi(score, folder / f"piece{i}.mid", overwrite=True)
    return folder


def command(preset: str, data: Path, out: Path, steps: int, resume: bool) -> list[str]:
    args = [sys.executable, "-m", "cadenza", "train", "--model", preset, "--data", str(data),
            "--steps", str(steps), "--checkpoint-every", "5", "--eval-every", "10",
            "--sample-every", "0", "--log-every", "5", "--seed", "3", "--precision", "fp32",
            "--threads", "1", "--workers", "1", "--no-progress", "--out", str(out)]
    return [*args, "--resume"] if resume else args


def latest_step(run: Path) -> int:
    pointer = run / "latest.json"
    try:
        return int(json.loads(pointer.read_text())["step"])
    except (OSError, ValueError, KeyError):
        return 0


def final_weights(run: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    from cadenza.checkpoint import read_pointer

    checkpoint = read_pointer(run, "latest.json")
    assert checkpoint is not None, f"{run} has no checkpoint"
    return load_file(str(checkpoint / "model.safetensors"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--preset", default="pianoroll-debug")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    chance = random.Random(args.seed)
    env = {**os.environ, "CADENZA_CACHE_DIR": tempfile.mkdtemp(prefix="cadenza-kill-cache-")}
    with tempfile.TemporaryDirectory() as tmp:
        data = corpus(Path(tmp) / "midi")
        whole, cut = Path(tmp) / "whole", Path(tmp) / "cut"
        start = time.perf_counter()
        subprocess.run(command(args.preset, data, whole, args.steps, False), env=env,
                       check=True, capture_output=True)
        seconds = time.perf_counter() - start
        print(f"uninterrupted: {args.steps} steps in {seconds:.1f} s")
        resume = False
        for kill in range(args.kills):
            process = subprocess.Popen(command(args.preset, data, cut, args.steps, resume),
                                       env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            # Wait until the run passes a random step, then kill it a random moment later
            # (inside a step, a checkpoint write or a pointer write).
            share = args.steps // (args.kills + 1)  # one kill in each stretch of the run
            target = max(latest_step(cut) + 1, chance.randrange(kill * share, (kill + 1) * share))
            begun = time.perf_counter()
            while process.poll() is None and latest_step(cut) < target:
                time.sleep(0.02)
            time.sleep(chance.uniform(0.0, 0.15))
            process.send_signal(signal.SIGKILL)
            process.wait()
            resume = True
            print(f"kill {kill + 1}: after {time.perf_counter() - begun:.2f} s, aiming past "
                  f"step {target}; last checkpoint at step {latest_step(cut)}")
        done = subprocess.run(command(args.preset, data, cut, args.steps, resume), env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"the last resume failed: {done.stderr.strip()[-500:]}")
            return 1
        a, b = final_weights(whole), final_weights(cut)
        worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
        same = set(a) == set(b) and worst == 0.0
        print(f"largest weight difference after {args.kills} kills: {worst:.3g}")
        print(f"verdict: final weights {'EQUAL' if same else 'DIFFER'} to the uninterrupted run's")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
