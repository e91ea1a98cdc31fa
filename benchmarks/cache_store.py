"""The preprocessing cache's store: cadenza's ZIP packs against SQLite (standard library).

The cache keeps many small named byte entries (a quantised score and an encoded array per
piece). Today they live in uncompressed ZIP packs (:class:`cadenza.data.packs.PackStore`).
SQLite in WAL mode is the well-tested alternative for "many small named blobs in a few
files". This script measures the two on the same entries before any switch is considered:

1. a real cache is built once (``build_corpus`` over DATA_DIR with the ``pianoroll`` and
   ``notestate`` representations, every metre kept) in a temporary folder, and every entry
   of it read back: these (name, bytes) pairs are the workload;
2. **cold write**: each store, empty, takes every entry (``PackStore.put`` then ``flush``;
   SQLite ``INSERT OR REPLACE`` in one transaction per ``--batch`` entries, then a WAL
   checkpoint), with 1 writer and with 2 writer processes taking half each (as two
   preprocessing helpers do);
3. **warm read**: a fresh process opens the store and reads every entry by name;
4. size on disk.

Each figure is the median of ``--repeat`` runs, each in a process of its own. The SQLite
store is a minimal prototype written here (a table ``entries(name TEXT PRIMARY KEY, crc
INTEGER, data BLOB)``, WAL, ``synchronous=NORMAL``), not part of cadenza.

Usage: ``python benchmarks/cache_store.py [DATA_DIR] [--repeat N] [--batch N]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cadenza.data.corpus import CorpusConfig
from cadenza.data.packs import PackStore
from cadenza.data.pipeline import build_corpus
from cadenza.machine import cpu_model
from cadenza.midi import ReadOptions
from cadenza.representations import NoteState, PianoRoll

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "piano-midi.de"
console = Console()

Entries = list[tuple[str, bytes]]


# -- the SQLite prototype ------------------------------------------------------------------------
def sqlite_open(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=60, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE IF NOT EXISTS entries "
                       "(name TEXT PRIMARY KEY, crc INTEGER NOT NULL, data BLOB NOT NULL)")
    return connection


def sqlite_write(path: Path, entries: Entries, batch: int) -> None:
    connection = sqlite_open(path)
    for first in range(0, len(entries), batch):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT OR REPLACE INTO entries VALUES (?, ?, ?)",
            [(name, zlib.crc32(data), data) for name, data in entries[first : first + batch]])
        connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def sqlite_read(path: Path, names: Sequence[str]) -> int:
    connection = sqlite_open(path)
    total = 0
    for name in names:
        row = connection.execute("SELECT crc, data FROM entries WHERE name = ?",
                                 (name,)).fetchone()
        if row is None or zlib.crc32(row[1]) != row[0]:
            raise RuntimeError(f"sqlite lost {name}")
        total += len(row[1])
    connection.close()
    return total


# -- the packs store as cadenza uses it ----------------------------------------------------------
def packs_write(path: Path, entries: Entries, batch: int) -> None:
    store = PackStore(path)
    for name, data in entries:
        store.put(name, data)
    store.flush()


def packs_read(path: Path, names: Sequence[str]) -> int:
    store = PackStore(path)
    total = 0
    for name in names:
        data = store.get(name)
        if data is None:
            raise RuntimeError(f"packs lost {name}")
        total += len(data)
    return total


Writer = Callable[[Path, Entries, int], None]
Reader = Callable[[Path, Sequence[str]], int]
STORES: dict[str, tuple[Writer, Reader]] = {
    "packs (ZIP, today)": (packs_write, packs_read),
    "SQLite (WAL)": (sqlite_write, sqlite_read),
}


# -- timing, each run in a process of its own ----------------------------------------------------
def _write_job(store: str, path: Path, entries: Entries, batch: int, queue: mp.Queue) -> None:
    start = time.perf_counter()
    STORES[store][0](path, entries, batch)
    queue.put(time.perf_counter() - start)


def _read_job(store: str, path: Path, names: list[str], queue: mp.Queue) -> None:
    start = time.perf_counter()
    STORES[store][1](path, names)
    queue.put(time.perf_counter() - start)


def timed_write(store: str, target: Path, entries: Entries, writers: int, batch: int) -> float:
    """Wall time for ``writers`` processes to write their share of ``entries``."""
    context = mp.get_context("fork")
    queue: mp.Queue = context.Queue()
    shares = [entries[i::writers] for i in range(writers)]
    start = time.perf_counter()
    jobs = [context.Process(target=_write_job, args=(store, target, share, batch, queue))
            for share in shares]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
        if job.exitcode:
            raise RuntimeError(f"{store}: a writer failed ({job.exitcode})")
    return time.perf_counter() - start


def timed_read(store: str, target: Path, names: list[str]) -> float:
    context = mp.get_context("fork")
    queue: mp.Queue = context.Queue()
    job = context.Process(target=_read_job, args=(store, target, names, queue))
    job.start()
    job.join()
    if job.exitcode:
        raise RuntimeError(f"{store}: the reader failed ({job.exitcode})")
    return float(queue.get())


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def workload(data: Path, work: Path) -> Entries:
    """Every entry of a real cache built over ``data``."""
    os.environ["CADENZA_CACHE_DIR"] = str(work / "cache")
    config = CorpusConfig(meters=ReadOptions.parse_meters("all"))
    for representation in (PianoRoll(), NoteState()):
        build_corpus(data, representation, config, workers=2, cache_dir=work / "cache",
                     progress=False, fit=True)
    store = PackStore(work / "cache" / "packs")
    return [(name, data) for name in sorted(store.index()) if (data := store.get(name))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, nargs="?", default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256, help="SQLite entries per transaction")
    args = parser.parse_args(argv)
    if not args.data.exists():
        console.print(f"no data at {args.data}; pass a MIDI folder")
        return 2
    with tempfile.TemporaryDirectory(prefix="cadenza-cache-store-") as folder:
        work = Path(folder)
        entries = workload(args.data, work)
        names = [name for name, _ in entries]
        megabytes = sum(len(d) for _, d in entries) / 2**20
        console.print(f"workload: {len(entries)} entries, {megabytes:.1f} MiB, from {args.data}")
        table = Table(title=f"cache store, {len(entries)} entries ({megabytes:.1f} MiB); "
                            f"median of {args.repeat} runs")
        for column in ("store", "cold write, 1 writer (s)", "cold write, 2 writers (s)",
                       "warm read (s)", "on disk (MiB)"):
            table.add_column(column, justify="right" if "(" in column else "left")
        for store in STORES:
            figures: dict[str, list[float]] = {"w1": [], "w2": [], "r": []}
            disk = 0
            for run in range(args.repeat):
                for writers, key in ((1, "w1"), (2, "w2")):
                    target = work / f"{store[:5]}-{run}-{writers}"
                    target = target.with_suffix(".db") if store.startswith("SQLite") else target
                    figures[key].append(timed_write(store, target, entries, writers, args.batch))
                    if writers == 1:
                        figures["r"].append(timed_read(store, target, names))
                        disk = size_of(target)
            medians = [f"{statistics.median(figures[k]):.3f}" for k in ("w1", "w2", "r")]
            table.add_row(store, *medians, f"{disk / 2**20:.1f}")
        console.print(table)
        console.print(f"{cpu_model()}, {os.cpu_count()} logical cores, Python "
                      f"{sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
