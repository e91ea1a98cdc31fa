"""Helpers shared by the benchmark scripts.

* the machine a table was measured on (CPU model, cores, torch version and threads, date,
  load average) and its measured fp32 matrix-multiply rate, the yardstick for model FLOP/s;
* the peak resident memory of a block of code;
* music to feed the models: a synthetic piano piece, real pieces from the data folder beside
  the project when it is there, and each family's representation fitted on them.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch

from cadenza.errors import MidiError
from cadenza.experiment import make_representation
from cadenza.machine import cpu_model
from cadenza.midi import ReadOptions, find_midi_files, load_piece
from cadenza.representations.base import Representation
from cadenza.score import Score, Tempo, TimeSignature, make_notes, remove_overlaps

ROOT = Path(__file__).resolve().parents[1]
PIANO_MIDI = ROOT.parent / "shared" / "data" / "piano-midi.de" / "midis"
MB = 1024.0 * 1024.0
SYNTHETIC_PIECES = 3
VOCABULARY_FAMILIES = ("events", "notetokens")  # representations that learn from data


# -- the machine -------------------------------------------------------------------------------
def usable_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> tuple[float, float, float]:
    """1, 5 and 15 minute load averages (zeros where the OS has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def format_load(load: tuple[float, float, float]) -> str:
    return f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)"


class MatmulProbe:
    """Measures the fp32 ``size`` x ``size`` matmul rate; holds its operands between calls so
    that probing in the middle of other work allocates nothing."""

    def __init__(self, size: int = 2048) -> None:
        gen = torch.Generator().manual_seed(0)
        self.size = size
        self.a = torch.randn(size, size, generator=gen)
        self.b = torch.randn(size, size, generator=gen)
        self.out = torch.empty(size, size)
        torch.mm(self.a, self.b, out=self.out)  # warm-up

    def rates(self, seconds: float = 1.5, repeats: int = 3) -> list[float]:
        """GFLOP/s of ``repeats`` rounds of back-to-back products, each about
        ``seconds / repeats`` long (at least one product), counting ``2 * size**3`` FLOPs."""
        rates = []
        for _ in range(repeats):
            count = 0
            start = time.perf_counter()
            while True:
                torch.mm(self.a, self.b, out=self.out)
                count += 1
                elapsed = time.perf_counter() - start
                if elapsed >= seconds / repeats:
                    break
            rates.append(2.0 * self.size**3 * count / elapsed / 1e9)
        return rates


def matmul_gflops(size: int = 2048, seconds: float = 1.5, repeats: int = 3) -> float:
    """Median measured fp32 matmul rate (GFLOP/s) at torch's current thread count."""
    return statistics.median(MatmulProbe(size).rates(seconds, repeats))


def onednn_gflops(size: int = 2048, seconds: float = 1.0) -> float | None:
    """Measured fp32 rate (GFLOP/s) of a ``size`` x ``size`` oneDNN (mkldnn) linear layer.

    ``torch.mm`` goes to the BLAS library torch was built with (MKL in the x86 wheels), while
    torch's CPU LSTMs run on oneDNN; on some CPUs (AMD's with AVX-512) the two differ by 2x.
    ``None`` where torch has no oneDNN.
    """
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        with warnings.catch_warnings():  # torch.utils.mkldnn still uses TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            from torch.utils import mkldnn

            layer = mkldnn.to_mkldnn(torch.nn.Linear(size, size, bias=False))
        x = torch.randn(size, size).to_mkldnn()
        with torch.no_grad():
            layer(x)
            count = 0
            start = time.perf_counter()
            while True:
                layer(x)
                count += 1
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    break
    except (RuntimeError, AttributeError, ImportError):
        return None
    return 2.0 * size**3 * count / elapsed / 1e9


@dataclass
class Machine:
    """What a benchmark ran on."""

    cpu: str
    logical_cores: int
    usable_cores: int
    torch_version: str
    torch_threads: int
    python: str
    date: str
    load_average: tuple[float, float, float]
    matmul_size: int
    matmul_gflops: float
    onednn_gflops: float | None

    def line(self) -> str:
        """One line for the top of a table."""
        return (
            f"{self.cpu} | {self.logical_cores} logical cores ({self.usable_cores} usable) | "
            f"torch {self.torch_version}, {self.torch_threads} threads | "
            f"Python {self.python} | {self.date} | fp32 {self.matmul_size}^2 torch.mm: "
            f"{self.matmul_gflops:.1f} GFLOP/s"
            + (f", oneDNN linear: {self.onednn_gflops:.1f} GFLOP/s"
               if self.onednn_gflops is not None else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_machine(matmul_size: int = 2048, matmul_seconds: float = 1.5) -> Machine:
    """Describe this machine and measure its matmul rate (call after setting the threads)."""
    return Machine(
        cpu=cpu_model(),
        logical_cores=os.cpu_count() or 1,
        usable_cores=usable_cores(),
        torch_version=torch.__version__,
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
        date=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        load_average=load_average(),
        matmul_size=matmul_size,
        matmul_gflops=matmul_gflops(matmul_size, matmul_seconds),
        onednn_gflops=onednn_gflops(matmul_size, matmul_seconds / 2),
    )


# -- memory ------------------------------------------------------------------------------------
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _maxrss_bytes() -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


class PeakMemory:
    """Peak resident memory of this process while the ``with`` block runs.

    On Linux the kernel's high-water mark (``VmHWM``) is reset through
    ``/proc/self/clear_refs`` on entry, so ``peak_mb`` is the block's own peak and
    ``delta_mb`` its growth over the resident size at entry. Where that reset is not allowed,
    ``getrusage`` ``ru_maxrss`` is used: ``delta_mb`` is then how far the block raised the
    process's lifetime peak (0 when an earlier block had peaked higher). ``method`` says which.
    """

    def __init__(self) -> None:
        self.method = ""
        self.baseline_mb = 0.0
        self.peak_mb = 0.0
        self._reset = False
        self._maxrss_before = 0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        rss = _status_kb("VmRSS")
        try:
            _CLEAR_REFS.write_text("5")
            self._reset = rss is not None and _status_kb("VmHWM") is not None
        except OSError:
            self._reset = False
        if self._reset and rss is not None:
            self.method = "VmHWM reset per preset (/proc/self/clear_refs)"
            self.baseline_mb = rss / 1024.0
        else:
            self.method = "ru_maxrss growth (getrusage)"
            self._maxrss_before = _maxrss_bytes()
            self.baseline_mb = self._maxrss_before / MB
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        hwm = _status_kb("VmHWM") if self._reset else None
        self.peak_mb = hwm / 1024.0 if hwm is not None else _maxrss_bytes() / MB

    @property
    def delta_mb(self) -> float:
        return max(0.0, self.peak_mb - self.baseline_mb)


# -- music -------------------------------------------------------------------------------------
def synthetic_score(num_quarters: int = 512, steps_per_quarter: int = 4, seed: int = 0) -> Score:
    """A piano-like piece in 4/4 at 120 qpm, quantised to ``steps_per_quarter``.

    A right-hand line of 16th/8th notes, sometimes doubled, over left-hand chords every half
    bar, drifting through the middle of the keyboard: about 5 notes per quarter, 1-3 sounding
    at a time, MIDI 36..96. Built on a 16th-note grid and stretched to the requested grid
    (which must be a multiple of 4 steps per quarter).
    """
    if steps_per_quarter % 4:
        raise ValueError(f"steps_per_quarter must be a multiple of 4, got {steps_per_quarter}")
    rng = np.random.default_rng(seed)
    starts: list[int] = []
    durations: list[int] = []
    pitches: list[int] = []
    total = 4 * num_quarters  # 16th-note steps
    centre = 72
    t = 0
    while t < total:  # right hand
        centre = int(np.clip(centre + rng.integers(-2, 3), 62, 88))
        length = int(rng.choice([1, 2, 2, 4]))
        pitch = centre + int(rng.choice([0, 2, 4, 5, 7, 9]))
        starts.append(t)
        durations.append(length)
        pitches.append(pitch)
        if rng.random() < 0.2:
            starts.append(t)
            durations.append(length)
            pitches.append(pitch - int(rng.choice([3, 4, 8, 12])))
        t += length
    for bar_half in range(0, total, 8):  # left hand: a chord every half bar
        root = 36 + int(rng.integers(0, 12))
        for interval in (0, 7, 12 + int(rng.choice([3, 4]))):
            starts.append(bar_half)
            durations.append(8)
            pitches.append(min(root + interval, 96))
    stretch = steps_per_quarter // 4
    notes = make_notes(np.asarray(starts) * stretch, np.asarray(durations) * stretch, pitches,
                       rng.integers(50, 100, len(starts)))
    return Score(
        notes=remove_overlaps(notes),
        ticks_per_quarter=steps_per_quarter,
        tempos=(Tempo(0, 120.0),),
        time_signatures=(TimeSignature(0, 4, 4),),
        name=f"synthetic-{seed}",
    )


def real_scores(
    steps_per_quarter: int,
    limit: int | None = None,
    folder: Path = PIANO_MIDI,
    meters: tuple[str, ...] | None = ("4/4",),
) -> list[Score]:
    """Up to ``limit`` pieces of ``folder`` (every file when ``None``), quantised; files that
    cannot be read or keep no notes in ``meters`` are skipped. Empty when the folder is absent.
    """
    if not folder.is_dir():
        return []
    options = ReadOptions(steps_per_quarter=steps_per_quarter, time_signatures=meters)
    scores: list[Score] = []
    for path in find_midi_files(folder):
        if limit is not None and len(scores) >= limit:
            break
        try:
            scores.append(load_piece(path, options)[0])
        except MidiError:
            continue
    return scores


def fitted_representation(family: str, corpus_files: int | None) -> tuple[Representation, str]:
    """The family's default representation, fitted as training would fit it, and a note.

    Representations with a vocabulary (events deltas, note tokens) are fitted on
    ``SYNTHETIC_PIECES`` synthetic pieces plus, unless ``corpus_files`` is 0, up to
    ``corpus_files`` 4/4 pieces of the corpus beside the project (every one for ``None``).
    The note says what they were fitted on (empty for the fixed-vocabulary families).
    """
    representation = make_representation(family)
    if family not in VOCABULARY_FAMILIES:
        return representation, ""
    spq = representation.config.steps_per_quarter
    real = real_scores(spq, corpus_files) if corpus_files != 0 else []
    synthetic = [synthetic_score(steps_per_quarter=spq, seed=s) for s in range(SYNTHETIC_PIECES)]
    representation.fit([*real, *synthetic])
    if real:
        return representation, f"fitted on {len(real)} piano-midi.de 4/4 pieces"
    return representation, f"fitted on {SYNTHETIC_PIECES} synthetic pieces only"
