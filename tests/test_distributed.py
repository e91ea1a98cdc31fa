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
    assert done.stdout.count("done: step 4, 4 steps") == 1  # only the main process reports
    latest = json.loads((out / "latest.json").read_text())
    assert latest["step"] == 4
    rows = (out / "log.csv").read_text().splitlines()
    assert sum(",train," in row for row in rows) == 4  # one log row per step, rank 0 only


RANK_SCRIPT = '''
import os, sys
import torch
from safetensors.torch import save_file
from cadenza.experiment import prepare_experiment
from cadenza.training import TrainConfig, Trainer

data, out = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)
experiment = prepare_experiment("pianoroll-debug", data, workers=1, progress=False)
config = TrainConfig(steps=5, eval_every=0, checkpoint_every=0, sample_every=0, log_every=0,
                     device="cpu", seed=3, lr=1e-2)
trainer = Trainer(experiment.model, experiment.representation, experiment.train_batches,
                  experiment.valid_batches, config, out, experiment.run_info(config.to_dict()))
trainer.fit()
weights = {k: v.detach().clone().contiguous() for k, v in experiment.model.state_dict().items()}
save_file(weights, os.path.join(out, "rank%s.safetensors" % os.environ["RANK"]))
sys.stdout.flush()
os._exit(0)
'''


def test_two_ranks_end_with_equal_weights(tmp_path: Path) -> None:
    """Each rank draws its own batches (seed + rank), yet the averaged gradients keep the
    replicas equal: without them the two would part after the first step."""
    import torch
    from safetensors.torch import load_file

    _corpus(tmp_path / "midi")
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--standalone", str(script), str(tmp_path / "midi"), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={"CADENZA_CACHE_DIR": str(tmp_path / "cache"),
                               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    first = load_file(str(out / "rank0.safetensors"))
    second = load_file(str(out / "rank1.safetensors"))
    assert set(first) == set(second)
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=1e-6)
