"""Multi-process training through torchrun + DistributedDataParallel (gloo on CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from cadenza.midi import write_midi
from cadenza.score import Score, TimeSignature, make_notes


def _corpus(root: Path) -> None:
    for index in range(12):
        starts = np.arange(0, 128, 2)
        pitches = 55 + index + (np.arange(len(starts)) * 7) % 12
        score = Score(make_notes(starts, np.full(len(starts), 2), pitches), 4,
                      time_signatures=(TimeSignature(0, 4, 4),))
        write_midi(score, root / f"piece_{index}.mid")


def test_torchrun_two_processes(tmp_path: Path) -> None:
    _corpus(tmp_path / "midi")
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--standalone", "-m", "cadenza", "train", "--model", "pianoroll-debug",
        "--data", str(tmp_path / "midi"), "--steps", "4", "--log-every", "1",
        "--eval-every", "2", "--checkpoint-every", "2", "--sample-every", "0",
        "--out", str(out), "--no-progress", "--device", "cpu", "--threads", "1",
        "--workers", "1",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={"CADENZA_CACHE_DIR": str(tmp_path / "cache"),
                               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("done: 4 steps") == 1  # only the main process reports
    latest = json.loads((out / "latest.json").read_text())
    assert latest["step"] == 4
    rows = (out / "log.csv").read_text().splitlines()
    assert sum(",train," in row for row in rows) == 4  # one log row per step, rank 0 only
