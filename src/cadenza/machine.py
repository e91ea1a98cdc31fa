"""What machine a measurement ran on (for benchmark reports), what it has (cores, memory),
and process-wide settings."""

from __future__ import annotations

import ctypes
import logging
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from cadenza.errors import ConfigError

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_NEVER = 2**31 - 1  # the largest int: freed memory at the heap's top is kept
_freed_memory_kept = False


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> str:
    """CPU model, core count and torch threads (or the GPU name), for benchmark reports."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA)"
    return f"{cpu_model()}, {torch.get_num_threads()} torch threads"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def capped_threads(threads: int) -> tuple[int, str | None]:
    """``threads`` limited to the machine's cores, and a note when it was lowered.

    More compute threads than cores only make them wait for one another (300 threads on 2
    cores ran 23 times slower than 2).

    Raises:
        ConfigError: ``threads`` is below 1.
    """
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    cores = usable_cores()
    if threads <= cores:
        return threads, None
    return cores, f"--threads {threads}: this machine has {cores} cores; using {cores} threads"


def memory_bytes() -> tuple[int, int] | None:
    """``(available, total)`` bytes of memory (``MemAvailable``, ``MemTotal`` of
    /proc/meminfo; the physical memory for both elsewhere), or ``None`` when unknown."""
    fields: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, value = line.partition(":")
            parts = value.split()
            if parts and parts[0].isdigit():
                fields[name] = int(parts[0]) * 1024  # kB
    except OSError:
        pass
    if "MemTotal" in fields:
        return fields.get("MemAvailable", fields["MemTotal"]), fields["MemTotal"]
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    return (total, total) if total > 0 else None


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch threads, at most the machine's cores (``None``:
    leave the setting as it is)."""
    if threads is None:
        yield
        return
    threads, note = capped_threads(threads)
    if note:
        log.info("%s", note)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def keep_freed_memory() -> bool:
    """Have the C library keep freed memory for reuse instead of handing it back to the OS.

    glibc's ``malloc`` serves every large block (over a threshold of at most 32 MiB) with its
    own ``mmap`` and unmaps it when freed, and trims the heap's free top, so a training step
    that frees and re-allocates the same large tensors every step (an LSTM's gate buffers,
    the features, the gradients) touches fresh pages each time, a page fault for every 4 KiB
    and the kernel zeroing it (100,000 faults and a third of the wall time of a
    ``biaxial-small`` training step on the 2-core AMD EPYC of issue 27; 350,000 for the wider
    biaxial model). With ``mmap`` off (``M_MMAP_MAX`` 0) and no trimming
    (``M_TRIM_THRESHOLD``) large blocks come from the heap and are reused from step to step:
    no faults after the first steps (``benchmarks/biaxial_step.py``: 1.5x faster steps).

    The cost: the process keeps the memory of its busiest moment, plus fragmentation, instead
    of returning it between steps (peak resident memory 1.5 to 1.75 times the default's for
    the biaxial models, and steady). Nothing is computed differently.

    Applied once per process, on Linux with glibc only; an ``MALLOC_MMAP_MAX_`` or
    ``MALLOC_TRIM_THRESHOLD_`` set in the environment is the user's own choice and is left
    alone. Returns whether the setting is in force.
    """
    global _freed_memory_kept
    if _freed_memory_kept:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if "MALLOC_MMAP_MAX_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        done = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD,
                                                                   _TRIM_NEVER) == 1
    except (OSError, AttributeError):
        return False
    _freed_memory_kept = done
    if done:
        log.debug("malloc keeps freed memory for reuse (mmap off, no trimming)")
    return done
