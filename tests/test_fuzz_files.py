"""A fuzz suite of damaged MIDI files made here: truncations, flipped bytes, huge deltas,
division 0 and SMPTE headers, odd names, FIFOs and links. preprocess, train and generate
--primer meet every one with a count or a one-line error: never a traceback, never a hang."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.midi import write_midi
from cadenza.score import Score, TimeSignature, make_notes

runner = CliRunner()


def _good(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    starts = np.arange(0, 128, 2)
    score = Score(make_notes(starts, np.full(len(starts), 2), rng.integers(48, 84, len(starts))),
                  4, time_signatures=(TimeSignature(0, 4, 4),))
    path = Path(f"/tmp/cadenza-fuzz-{os.getpid()}-{seed}.mid")
    write_midi(score, path, overwrite=True)
    data = path.read_bytes()
    path.unlink()
    return data


def _mutants(good: bytes) -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    out: dict[str, bytes] = {}
    for cut in (0, 4, 13, 14, 22, len(good) // 2, len(good) - 1):
        out[f"truncated-{cut}.mid"] = good[:cut]
    for i in range(12):
        data = bytearray(good)
        for position in rng.integers(0, len(data), 3):
            data[position] ^= int(rng.integers(1, 256))
        out[f"flipped-{i}.mid"] = bytes(data)
    out["division-0.mid"] = good[:12] + b"\x00\x00" + good[14:]
    out["smpte.mid"] = good[:12] + b"\xe7\x28" + good[14:]
    events = b"\x8f\xff\xff\x7f\x90\x3c\x40\x0a\x80\x3c\x40\x00\xff\x2f\x00"  # a huge delta
    out["huge-delta.mid"] = (b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1) + b"MTrk"
                             + struct.pack(">I", len(events)) + events)
    out["not-midi.mid"] = b"RIFF" + bytes(60)
    return out


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "midi"
    folder.mkdir()
    for i in range(8):
        (folder / f"good-{i}.mid").write_bytes(_good(i))
    for name, data in _mutants(_good(0)).items():
        (folder / name).write_bytes(data)
    with open(os.fsencode(folder) + b"/odd-\xff-name.mid", "wb") as handle:
        handle.write(_good(20))
    os.mkfifo(folder / "fifo.mid")
    (folder / "to-zero.mid").symlink_to("/dev/zero")
    (folder / "dangling.mid").symlink_to(folder / "nothing-here.mid")
    return folder


def _one_line_or_ok(result: object) -> None:
    output = getattr(result, "output", "")
    code = getattr(result, "exit_code", 0)
    exception = getattr(result, "exception", None)
    assert "Traceback" not in output
    assert code in (0, 2), (code, output[-800:], exception)
    if code == 2:
        assert len([line for line in output.splitlines() if line.startswith("error:")]) == 1


def test_preprocess_counts_every_bad_file(fuzz_folder: Path) -> None:
    result = runner.invoke(app, ["preprocess", str(fuzz_folder), "--meters", "all",
                                 "--workers", "2", "--no-cache", "--no-progress"])
    _one_line_or_ok(result)
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if "skipped" in row)
    assert "(" in line  # counted by reason


def test_train_skips_bad_files(fuzz_folder: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, [
        "train", "--model", "pianoroll-debug", "--data", str(fuzz_folder), "--meters", "all",
        "--steps", "2", "--eval-every", "2", "--sample-every", "0", "--workers", "1",
        "--no-progress", "--out", str(tmp_path / "run")])
    _one_line_or_ok(result)
    assert result.exit_code == 0, result.output


def test_generate_meets_every_bad_primer_with_one_line(fuzz_folder: Path,
                                                      tmp_path: Path) -> None:
    names = sorted(os.listdir(os.fsencode(fuzz_folder)))
    assert len(names) > 30
    for name in names:
        primer = os.fsdecode(os.fsencode(fuzz_folder) + b"/" + name)
        result = runner.invoke(app, ["generate", "pianoroll-piano", "--primer", primer,
                                     "--bars", "1", "--seed", "1", "--out",
                                     str(tmp_path / "out")])
        _one_line_or_ok(result)


MEMORY_BOUND_MIB = 1536  # the interpreter, torch and the readers take about 500 MiB


def _peak_memory_mib(args: list[str], timeout: float = 300) -> tuple[int, str, int]:
    """Exit code, output and peak resident memory (MiB, the largest process of the command
    and its helpers) of ``python -m cadenza ARGS`` run in a fresh interpreter."""
    wrapper = ("import resource, subprocess, sys; "
               "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
               "print(peak); print(done.stdout[-3000:] + done.stderr[-3000:]); "
               "sys.exit(done.returncode)")
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "cadenza",
                           *args], capture_output=True, text=True, timeout=timeout)
    first, _, output = done.stdout.partition("\n")
    return done.returncode, output, int(first) // 1024


def test_memory_stays_bounded_on_every_bad_file(fuzz_folder: Path, tmp_path: Path) -> None:
    """The whole folder (a note at tick 2**28 among them) is preprocessed, and the worst
    files are met as primers, each in bounded memory and time."""
    code, output, peak = _peak_memory_mib(["preprocess", str(fuzz_folder), "--meters", "all",
                                           "--workers", "2", "--no-cache", "--no-progress"])
    assert code == 0 and "Traceback" not in output, output
    assert peak < MEMORY_BOUND_MIB, f"preprocess peaked at {peak} MiB"
    for name in ("huge-delta.mid", "to-zero.mid", "fifo.mid"):
        code, output, peak = _peak_memory_mib([
            "generate", "pianoroll-piano", "--primer", str(fuzz_folder / name), "--bars", "1",
            "--out", str(tmp_path / "out")], timeout=120)
        assert code == 2 and "Traceback" not in output, (name, output)
        assert peak < MEMORY_BOUND_MIB, f"generate --primer {name} peaked at {peak} MiB"
