"""Each hostile input of the bounds findings, run as the user would run it, in a fresh
process confined to 3 GiB of address space and a time limit.

The other bounds tests call the library in the test's own process, where a limit that
regresses would take the whole machine (90 GB of audio, 1.4 TB of weights). Here a regression
is stopped by the confinement instead, and fails the test: the command must refuse the input
in one line, on its own, within the limits.
"""

from __future__ import annotations

import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_midi import MAX_DELTA, one_note_file

ADDRESS_SPACE = 3 * 2**30  # bytes: the interpreter, torch and music21 fit well inside
SECONDS = 120  # a fresh interpreter imports torch first: generous on a busy 2-core machine

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is Linux's")


def _confine() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_confined(args: list[str], cwd: Path) -> tuple[int, str, float]:
    """Exit code, output and seconds of ``python -m cadenza ARGS`` under the limits."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cadenza", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=SECONDS, preexec_fn=_confine,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                               "HOME": str(cwd), "PYTHONPATH": ":".join(sys.path)})
    return done.returncode, done.stdout + done.stderr, time.monotonic() - began


def _late_note(tmp_path: Path) -> Path:
    path = tmp_path / "late.mid"
    path.write_bytes(one_note_file(MAX_DELTA))  # 38 bytes, a note at tick 2**28 - 1
    return path


def _pickle_bomb(tmp_path: Path) -> Path:
    piece = [[60, 64, 67]] * 50_000  # one step, referred to again and again
    path = tmp_path / "bomb.pickle"
    path.write_bytes(pickle.dumps({"train": [piece] * 150_000}, protocol=2))
    return path


@pytest.mark.parametrize(("make", "args", "said"), [
    (_late_note, ["render", "{file}"], "too-long"),
    (_late_note, ["export", "{file}", "--musicxml"], "too-long"),
    (_late_note, ["plot", "{file}"], "too-long"),
    (_pickle_bomb, ["preprocess", "{file}"], "more than 10,000,000 steps and pitches"),
    (None, ["train", "-m", "pianoroll-small", "--data", "{tmp}",
            "--set", "hidden_sizes=[1000000000]"], "needs at least"),
    (None, ["train", "-m", "biaxial-small", "--data", "{tmp}", "--batch-size", "1000000000"],
     "--batch-size"),
    (None, ["train", "-m", "transformer-small", "--data", "{tmp}",
            "--set", "vocab_size=5"], "vocab_size"),
], ids=["render", "export", "plot", "pickle", "width", "batch", "ignored-key"])
def test_a_hostile_input_is_refused_in_one_line_within_the_limits(
        tmp_path: Path, make: object, args: list[str], said: str) -> None:
    file = make(tmp_path) if callable(make) else tmp_path
    line = [arg.format(file=file, tmp=tmp_path) for arg in args]
    code, output, seconds = run_confined(line, tmp_path)
    errors = [text for text in output.splitlines() if text.startswith("error:")]
    assert code == 2, output[-2000:]
    assert len(errors) == 1 and said in errors[0], output[-2000:]
    assert "Traceback" not in output and "MemoryError" not in output
    assert seconds < SECONDS
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 50_000_000
